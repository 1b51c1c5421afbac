"""The HTTP API of `kgrec serve` (under /v1), beside the Gradio page."""

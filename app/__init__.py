"""The CLI, the recommendation service and the Gradio UI."""

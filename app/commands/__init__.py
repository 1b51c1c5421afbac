"""One module per CLI verb. Each exposes ``register(subparsers)``, which adds its parser
and sets ``handler=run``, and ``run(args, settings) -> int``."""

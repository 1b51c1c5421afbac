"""``kgrec``: the command-line entry point. Errors a user can cause print one sentence.

Each verb's module is imported only when that verb runs (its own ``--help`` included), so
``kgrec --help``, ``ingest``, ``stats`` and ``data`` never pay for torch and PyG; the
one-line summaries of ``kgrec --help`` are therefore kept here, in :data:`COMMANDS`.
"""
from __future__ import annotations

import argparse
import importlib
import logging
import sys
import warnings
from collections.abc import Sequence

from kgrec.kg.errors import KgrecError
from kgrec.kg.settings import Settings

# PyTorch Geometric scripts a few functions at import time; torch 2.15 warns about that on
# every run. It is not the user's concern.
warnings.filterwarnings("ignore", message=r"`torch\.jit\.script` is deprecated", category=FutureWarning)

COMMANDS: dict[str, str] = {
    "data": "fetch and list the public demo data sets",
    "ingest": "validate a catalog and load it into the graph store",
    "stats": "counts of nodes and relationships in the graph store",
    "train": "train the model on the ingested catalog",
    "evaluate": "Recall@20 / NDCG@20 of the model and the baselines (full ranking) on the ingested catalog",
    "recommend": "recommend for known or new users (one, or a JSONL batch)",
    "explain": "the graph paths that explain an item for a user",
    "events": "send interactions (JSON lines, or - for stdin) to a running server or into the store",
    "serve": "serve explained recommendations in a web app (Gradio)",
    "demo": "fetch ml-100k, ingest it, train the model and serve the app (each step once)",
}
"""Verb -> its summary; the verb's parser and handler are in ``kgrec.app.commands.<verb>``."""


def build_parser(verb: str | None = None) -> argparse.ArgumentParser:
    """The parser with ``verb``'s full sub-parser (its module imported) and a summary entry
    for every other verb."""
    parser = argparse.ArgumentParser(prog="kgrec", description="Knowledge-graph recommender.")
    parser.add_argument("--home", help="state folder (default: $KGREC_HOME or ~/.kgrec)")
    parser.add_argument("--verbose", "-v", action="store_true", help="log details")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for name, summary in COMMANDS.items():
        if name == verb:
            importlib.import_module(f"kgrec.app.commands.{name}").register(sub)
        else:
            sub.add_parser(name, help=summary)
    return parser


def verb_of(argv: Sequence[str]) -> str | None:
    """The verb in ``argv``: the first word that is not a top-level option or its value."""
    words = iter(argv)
    for word in words:
        if word == "--home":
            next(words, None)
        elif not word.startswith("-"):
            return word if word in COMMANDS else None
    return None


def main(argv: Sequence[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    parser = build_parser(verb_of(argv))
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO if args.verbose else logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    try:
        settings = Settings.from_env(home=args.home, store=getattr(args, "store", None))
        return int(args.handler(args, settings) or 0)
    except KgrecError as error:
        print(f"kgrec: error: {error}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("kgrec: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:  # output piped into a reader that stopped, e.g. `| head`
        sys.stderr.close()
        return 0


if __name__ == "__main__":
    sys.exit(main())

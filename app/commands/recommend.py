"""``kgrec recommend``: the recommendation contract, in batch (JSONL) or for one user."""
from __future__ import annotations

import argparse
import contextlib
import json
import sys
from pathlib import Path

from kgrec.app.service import RecommendationService
from kgrec.kg.errors import KgrecError
from kgrec.kg.settings import STORE_KINDS, Settings


def register(sub: argparse._SubParsersAction) -> None:
    parser = sub.add_parser("recommend")
    parser.add_argument("--model", type=Path, help="model folder (default: KGREC_HOME/models/default)")
    parser.add_argument("--batch", type=Path, metavar="REQUESTS.jsonl", help="one JSON request per line")
    parser.add_argument("--out", type=Path, metavar="RECS.jsonl", help="answers, one per line (default: stdout)")
    parser.add_argument("-k", type=int, default=20, help="items per answer unless a request says otherwise (default 20)")
    parser.add_argument("--user", help="a known user id")
    parser.add_argument("--liked", help="comma-separated item ids the user likes")
    parser.add_argument("--attr", action="append", default=[], metavar="NAME=VALUE", help="a user attribute (repeatable)")
    parser.add_argument("--text", help="free text describing what the user wants")
    parser.add_argument("--explain", action="store_true", help="add the graph paths that explain each item")
    parser.add_argument("--store", choices=STORE_KINDS)
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace, settings: Settings) -> int:
    if args.k < 1:
        raise KgrecError(f"-k must be a positive integer, got {args.k}")
    single = args.user or args.liked or args.attr or args.text
    if bool(args.batch) == bool(single):
        raise KgrecError("give either --batch REQUESTS.jsonl, or a user with --user / --liked / --attr / --text")
    if args.batch and not args.batch.is_file():
        raise KgrecError(f"request file {args.batch} does not exist")
    service = RecommendationService(settings, args.model)
    try:
        if args.batch:
            with args.batch.open(encoding="utf-8", errors="replace") as lines:
                answers = service.answer_lines(lines, default_k=args.k, explain=args.explain)
            out = args.out.open("w", encoding="utf-8") if args.out else contextlib.nullcontext(sys.stdout)
            with out as stream:
                for answer in answers:
                    stream.write(json.dumps(answer, ensure_ascii=False) + "\n")
            failed = sum(1 for a in answers if a["error"])
            print(f"{len(answers)} answers, {failed} with an error" + (f", written to {args.out}" if args.out else ""), file=sys.stderr)
            return 0
        request = {"id": 1, "k": args.k}
        if args.user:
            request["user_id"] = args.user
        if args.liked:
            request["liked"] = [i.strip() for i in args.liked.split(",") if i.strip()]
        if args.text:
            request["text"] = args.text
        if args.attr:
            request["attributes"] = dict(_attribute(a) for a in args.attr)
        [answer] = service.recommend([request], explain=args.explain)
        print(render(answer, service))
        return 1 if answer["error"] else 0
    finally:
        service.close()


def _attribute(text: str) -> tuple[str, str]:
    name, sep, value = text.partition("=")
    if not sep or not name.strip():
        raise KgrecError(f"--attr expects NAME=VALUE, got {text!r}")
    return name.strip(), value.strip()


def render(answer: dict[str, object], service: RecommendationService) -> str:
    if answer["error"]:
        return f"error: {answer['error']}"
    lines = []
    if answer.get("fallback"):
        lines.append(f"fallback: {answer['fallback']}")
    for warning in answer.get("warnings") or []:
        lines.append(f"warning: {warning}")
    lines.append(f"{'#':>3}  {'score':>9}  {'item':<12} title")
    for rank, item in enumerate(answer["items"], start=1):  # type: ignore[arg-type]
        title = service.names.items.get(str(item["item_id"]), "")
        lines.append(f"{rank:>3}  {item['score']:>9.4f}  {str(item['item_id']):<12} {title}")
        for explanation in item.get("explanations", []):
            lines.append(f"{'':>16}- {explanation['sentence']}")
    return "\n".join(lines)


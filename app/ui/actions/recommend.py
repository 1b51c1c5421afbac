"""The Recommend tab's actions: what the form offers (users, liked items, attribute values)
and the top K for a known or a new user, with each item's explanation sentences."""
from __future__ import annotations

import logging
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from kgrec.app.markup import escape
from kgrec.app.ui.actions.base import TabActions, sorted_ids
from kgrec.app.ui.search import items_by_words, words
from kgrec.kg.errors import KgrecError
from kgrec.kg.identifiers import ENTITY, ITEM, USER
from kgrec.kg.validate import ATTRIBUTE_PREFIX

log = logging.getLogger(__name__)

CHOICES = 50
"""Items or users a picker offers for what the visitor typed."""
SIMILAR = 5
"""Items by meaning the liked-items picker adds after those whose titles hold the words
(*Return of the Jedi* for "star wars")."""
SIMILAR_FROM = 3
"""Characters typed before the picker also looks by meaning."""
USER_CHOICES = 2_000
"""Known user ids :meth:`RecommendActions.known_users` returns at most."""
RECOMMEND_COLUMNS = ["rank", "item_id", "title", "score"]
SCORE_DIGITS = 3
NOTHING_GIVEN = ("Nothing was given to go on (no user, liked items, attributes or words), so these are the most "
                 "popular items. Pick a user or liked items, set attributes or describe what you want for "
                 "recommendations of your own.")


@dataclass
class Recommendations:
    """One answer, as the Recommend tab shows it."""

    table: pd.DataFrame
    markdown: str
    items: list[dict[str, object]] = field(default_factory=list)
    """The answer's items (item_id, score, title, explanations) for the Explain tab."""
    ok: bool = True

    def choices(self) -> list[tuple[str, str]]:
        return [(f"{n}. {item['title']}", str(item["item_id"])) for n, item in enumerate(self.items, start=1)]


class RecommendActions(TabActions):
    # --- what the form offers --------------------------------------------------------

    def known_users(self, limit: int = USER_CHOICES) -> list[str]:
        with self.lock.reading():
            return sorted_ids(self.service.export.ids(USER))[:limit]

    def user_choices(self, query: str, limit: int = CHOICES) -> list[str]:
        """Known user ids starting with ``query`` (what the user picker offers as one types;
        nothing for an empty query, so the page never lists every user)."""
        query = (query or "").strip()
        if not query:
            return []
        with self.lock.reading():
            ids = self.service.export.ids(USER)
        return sorted_ids(i for i in map(str, ids) if i.startswith(query))[:limit]

    def attribute_choices(self) -> dict[str, list[str]]:
        """User attribute name -> its values, from the ``attr:NAME:VALUE`` entities."""
        with self.lock.reading():
            entities = self.service.export.nodes.get(ENTITY)
        if entities is None or entities.empty:
            return {}
        ids = entities["id"].astype(str)
        mask = ids.str.startswith(f"{ATTRIBUTE_PREFIX}:")
        choices: dict[str, set[str]] = {}
        for entity_id in ids[mask]:
            _, name, value = entity_id.split(":", 2)
            choices.setdefault(name, set()).add(value)
        return {name: sorted_ids(values) for name, values in sorted(choices.items())}

    def item_choices(self, query: str, limit: int = CHOICES, by_meaning: bool = True) -> list[tuple[str, str]]:
        """(``title (id)``, id) pairs for the liked-items picker: the items whose titles hold
        every word typed, in any order, then (``by_meaning``) a few closest in meaning (the
        sequels of *Star Wars* are titled otherwise)."""
        with self.lock.reading():
            items = self.service.export.nodes.get(ITEM)
            found = items_by_words(items, query, limit)["id"].astype(str).tolist() if items is not None else []
            if by_meaning and items is not None and len("".join(words(query))) >= SIMILAR_FROM:
                scores = self.service.semantic_scores(query)
                close = items["id"].astype(str).to_numpy()[np.argsort(-scores, kind="stable")[: SIMILAR + len(found)]]
                found += [i for i in close if i not in found][:SIMILAR]
        return [(self.item_label(i), i) for i in found[:limit]]

    def liked_items(self, values: Sequence[str]) -> tuple[list[str], list[str]]:
        """(item ids, values that are no item) for what the liked-items picker holds: an id,
        a choice's label (``Title (id)``) or a title typed in full (case aside) stand for
        their item; anything else is no item of the catalog."""
        with self.lock.reading():
            index, titles = self.service.item_index, self.service.names.items
        by_title: dict[str, list[str]] = {}
        ids, unknown = [], []
        for value in (str(v).strip() for v in values or () if str(v).strip()):
            label = re.fullmatch(r".*\((.+)\)", value)
            if value in index:
                ids.append(value)
            elif label and label.group(1) in index:
                ids.append(label.group(1))
            else:
                if not by_title:
                    for item_id, title in titles.items():
                        by_title.setdefault(str(title).casefold(), []).append(item_id)
                found = by_title.get(value.casefold(), [])
                (ids.append(found[0]) if len(found) == 1 else unknown.append(value))
        return list(dict.fromkeys(ids)), unknown

    def item_label(self, item_id: str) -> str:
        title = self.service.names.items.get(str(item_id))
        return f"{title} ({item_id})" if title is not None else str(item_id)

    # --- recommend ---------------------------------------------------------------------

    def recommend(
        self,
        user_id: str | None = None,
        liked: Sequence[str] = (),
        attributes: Mapping[str, str] | None = None,
        text: str | None = None,
        k: int = 10,
        only_new: bool = False,
    ) -> Recommendations:
        """Top ``k`` for a known user and/or a new one; ``only_new`` ranks only the items
        nobody has interacted with yet (cold items, e.g. those added in the Catalog tab)."""
        request: dict[str, object] = {"id": "ui", "k": int(k)}
        if only_new:
            new_items = self.new_items()
            if not new_items:
                return Recommendations(pd.DataFrame(columns=RECOMMEND_COLUMNS),
                                       "Every item has interactions: there is no new item to rank. "
                                       "Add one in the Catalog tab.", ok=False)
            request["candidates"] = new_items
        user_id = (user_id or "").strip()
        if user_id:
            request["user_id"] = user_id
        liked, unknown = self.liked_items(liked)
        if unknown:
            return Recommendations(pd.DataFrame(columns=RECOMMEND_COLUMNS), "**Error:** " + not_items_message(unknown), ok=False)
        if liked:
            request["liked"] = liked
        attributes = {n: str(v) for n, v in (attributes or {}).items() if v not in (None, "")}
        if attributes:
            request["attributes"] = attributes
        if text and text.strip():
            request["text"] = text
        answer, note = self.answer(request)
        return self._view(answer, note, request)

    def new_items(self) -> list[str]:
        """Items with no interactions in the store: cold items."""
        with self.lock.reading():
            return [str(i) for i in self.service.item_ids[self.service.popularity == 0]]

    def answer(self, request: dict[str, object]) -> tuple[dict[str, object], str | None]:
        """The contract's answer to one request, with explanations when they can be made
        (else without, and a note saying why)."""
        with self.lock.reading():
            try:
                [answer] = self.service.recommend([request], explain=True)
                return answer, None
            except KgrecError:
                raise
            except Exception as error:  # an explanation failed: still answer, without them
                log.exception("explanations failed; answering without them")
                [answer] = self.service.recommend([request], explain=False)
                return answer, f"explanations are unavailable ({type(error).__name__}: {error})"

    def _view(self, answer: dict[str, object], note: str | None, request: Mapping[str, object]) -> Recommendations:
        if answer.get("error"):
            return Recommendations(pd.DataFrame(columns=RECOMMEND_COLUMNS), f"**Error:** {escape(answer['error'])}", ok=False)
        titles = self.service.names.items
        items = []
        for entry in answer["items"]:  # type: ignore[union-attr]
            item = dict(entry)
            item["title"] = titles.get(str(item["item_id"]), str(item["item_id"]))
            items.append(item)
        anchored = bool(request.get("user_id") or request.get("liked") or request.get("attributes"))
        popular = str(answer.get("fallback") or "").startswith("popularity")
        table = pd.DataFrame(
            [(n, str(i["item_id"]), i["title"], None if popular else round(float(i["score"]), SCORE_DIGITS))
             for n, i in enumerate(items, start=1)],
            columns=RECOMMEND_COLUMNS,
        )
        lines: list[str] = []
        if popular and not anchored and not request.get("text"):
            lines.append(f"> {NOTHING_GIVEN}")
        elif answer.get("fallback"):
            lines.append(f"> **Fallback:** {escape(answer['fallback'])}.")
        for warning in answer.get("warnings") or []:  # type: ignore[union-attr]
            lines.append(f"> **Warning:** {escape(warning)}.")
        if note:
            lines.append(f"> **Note:** {escape(note)}.")
        if items and not anchored and request.get("text"):
            lines.append("> Words alone have no path in the graph: give liked items or attributes to see why each "
                         "item fits.")
        fewer = self._fewer(len(items), request)
        if fewer:
            lines.append(f"> {fewer}")
        if lines:
            lines.append("")
        if not items:
            lines.append("No items to recommend: every candidate was excluded.")
        for n, item in enumerate(items, start=1):
            figure = (f"{self._interactions(str(item['item_id'])):,} interactions" if popular
                      else f"score {float(item['score']):.{SCORE_DIGITS}f}")
            lines.append(f"**{n}. {escape(str(item['title']))}** — {figure}")
            explanations = item.get("explanations") or []
            sentences: dict[str, int] = {}
            for explanation in explanations:  # type: ignore[union-attr]
                sentences[str(explanation["sentence"])] = sentences.get(str(explanation["sentence"]), 0) + 1
            for sentence, count in sentences.items():  # paths through different co-users read the same
                lines.append(f"- {sentence}" + (f" *({count} paths)*" if count > 1 else ""))
            if not explanations and "explanations" in item and anchored:
                lines.append("- *No path of at most three hops joins this item to what you gave.*")
            lines.append("")
        return Recommendations(table, "\n".join(lines).strip(), items)

    def _fewer(self, returned: int, request: Mapping[str, object]) -> str | None:
        """Why fewer items came back than were asked, or None."""
        asked = int(request["k"])  # type: ignore[call-overload]
        if returned >= asked:
            return None
        candidates = request.get("candidates")
        pool = len(candidates) if isinstance(candidates, list) else len(self.service.item_ids)
        excluded = pool - returned
        why = (f"only {pool:,} item{'s are' if pool != 1 else ' is'} new (nobody has interacted with "
               f"{'them' if pool != 1 else 'it'} yet)" if isinstance(candidates, list) else f"the catalog has {pool:,} items")
        if excluded > 0:
            why += f", and {excluded:,} of them {'are' if excluded != 1 else 'is'} left out as the user's own or liked"
        return f"{returned:,} item{'s' if returned != 1 else ''}, not the {asked:,} asked: {why}."

    def _interactions(self, item_id: str) -> int:
        position = self.service.item_index.get(item_id)
        return int(self.service.popularity[position]) if position is not None else 0


def not_items_message(values: Sequence[str], quote: Callable[[str], str] = escape) -> str:
    """What to say of picked values that are no items; ``quote`` makes them safe where the
    sentence goes (Markdown by default)."""
    quoted = ", ".join(f"'{quote(v)}'" for v in values[:5])
    return (f"{quoted} {'is no item' if len(values) == 1 else 'are no items'} of the catalog: type words of a title "
            "in the liked-items picker and pick the item from the list.")


__all__ = ["RECOMMEND_COLUMNS", "Recommendations", "RecommendActions", "not_items_message"]

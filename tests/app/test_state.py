"""The serving state (app/state.py): a change makes a new state and leaves the old one as it
was (what readers hold), and the incremental vectors agree with a whole refresh."""
from __future__ import annotations

from collections.abc import Iterator

import numpy as np
import pytest

from kgrec.app.service import RecommendationService
from kgrec.app.state import with_events
from kgrec.gnn.recommender import UserQuery
from kgrec.kg.catalog import Catalog
from kgrec.kg.settings import Settings
from ui_support import STAR_WARS, copy_home, settings_for, trained_home


@pytest.fixture(scope="module")
def service(ml100k_catalog: Catalog, data_settings: Settings, tmp_path_factory: pytest.TempPathFactory) -> Iterator[RecommendationService]:
    trained = trained_home(ml100k_catalog, tmp_path_factory.mktemp("state"), data_settings.home / "cache")
    opened = RecommendationService(settings_for(copy_home(trained, tmp_path_factory.mktemp("own") / "home")))
    yield opened
    opened.close()


def cosine(a: np.ndarray, b: np.ndarray) -> float:
    return float(a @ b / (np.linalg.norm(a) * np.linalg.norm(b)))


def test_an_event_makes_a_new_state_and_leaves_the_old_one_alone(service: RecommendationService) -> None:
    old = service.state
    user_id = old.user_ids[0]
    user = old.user_index[user_id]
    item = next(i for i in range(old.model_items) if i not in set(old.seen[user]))
    seen, popularity = old.seen[user].copy(), old.popularity.copy()
    new, unserved = with_events(old, [(user_id, str(old.item_ids[item])), ("someone-new", str(old.item_ids[item]))])
    assert unserved == 0
    assert np.array_equal(old.seen[user], seen) and np.array_equal(old.popularity, popularity)
    assert user not in old.user_vectors and "someone-new" not in old.user_index
    assert item in new.seen[user] and new.popularity[item] == popularity[item] + 2
    expected = old.model.user_embeddings([UserQuery(user=user, liked=(item,))]).numpy()[0]
    assert np.allclose(new.user_vectors[user], expected, atol=1e-6)
    newcomer = new.user_index["someone-new"]
    assert newcomer == len(old.user_ids) and list(new.seen[newcomer]) == [item]


def test_a_new_item_folded_in_agrees_with_a_whole_refresh(service: RecommendationService) -> None:
    outcome = service.add_items([{"item_id": "state-rebels", "title": "Rebels of the Galaxy",
                                  "description": "A space opera: rebels, jedi knights and an evil empire.",
                                  "triples": [{"relation": "IN_GENRE", "tail": g}
                                              for g in ("genre:Sci-Fi", "genre:Action", "genre:Adventure")]}])
    assert outcome.accepted == ["state-rebels"] and not outcome.rejected
    incremental = service.state.item_vectors[service.state.item_index["state-rebels"]].copy()
    service.reload()
    refreshed = service.state.item_vectors[service.state.item_index["state-rebels"]]
    assert service.state.changes == 0 and service.state.model_items == len(service.state.item_ids)
    assert cosine(incremental, refreshed) > 0.95
    fan = service.recommend([{"liked": list(STAR_WARS), "k": 1000}])[0]
    assert "state-rebels" in [entry["item_id"] for entry in fan["items"]]


def test_a_new_item_with_text_only_is_explained_by_its_text_neighbours(service: RecommendationService) -> None:
    """A new item without graph facts has no path to explain it; its item-item score comes
    from the warm items nearest its text, and the answer names them."""
    outcome = service.add_items([{"item_id": "state-special", "title": "Star Wars (Special Edition)",
                                  "description": "Luke Skywalker and the rebels fight Darth Vader's Death Star."}])
    assert outcome.accepted == ["state-special"]
    [answer] = service.recommend([{"id": 1, "liked": list(STAR_WARS)[:1], "candidates": ["state-special", "1"], "k": 2}],
                                 explain=True)
    entries = {entry["item_id"]: entry for entry in answer["items"]}
    neighbours = entries["state-special"]["text_neighbours"]
    assert "text_neighbours" not in entries["1"]  # a warm item is scored by its own column
    assert 1 <= len(neighbours) <= 3 and all(n["item_id"] in service.state.item_index for n in neighbours)
    weights = [n["weight"] for n in neighbours]
    assert weights == sorted(weights, reverse=True) and sum(weights) <= 1 + 1e-6
    assert set(STAR_WARS) & {n["item_id"] for n in neighbours}, neighbours  # the films its text names

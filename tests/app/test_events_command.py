"""``kgrec events``, run as the real command: into the store directly (both stores), and
from a pipe to a running server over HTTP with the token from the environment."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from kgrec.app.api.server import create_app
from kgrec.app.service import RecommendationService
from kgrec.kg.catalog import Catalog
from kgrec.kg.graph import NodeRef, PathQuery
from kgrec.kg.identifiers import ITEM, USER
from kgrec.kg.settings import Settings
from kgrec.kg.store import open_store
from live import live
from test_api import TOKEN, store_settings
from ui_support import STAR_WARS, copy_home

LINES = [json.dumps({"user_id": "cli-user", "item_id": STAR_WARS[0], "rating": 4}),
         json.dumps({"user_id": "cli-user", "item_id": STAR_WARS[1], "timestamp": "2024-05-01T10:00:00Z"}),
         "",
         '{"user_id": "cli-user", "item_id": ',
         json.dumps({"user_id": "cli-user", "item_id": "no-such-item"}),
         json.dumps({"user_id": "cli-user", "item_id": STAR_WARS[2], "rating": "lots"})]


def kgrec(settings: Settings, *args: str, stdin: str | None = None, token: str | None = None) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if not k.startswith("KGREC_") or k.startswith("KGREC_NEO4J")}
    env.update({"KGREC_HOME": str(settings.home), "KGREC_DEVICE": "cpu", "PYTHONPATH": str(Path(__file__).parents[2])})
    if token:
        env["KGREC_API_TOKEN"] = token
    return subprocess.run([sys.executable, "-m", "kgrec.app.cli", *args], input=stdin, capture_output=True, text=True,
                          env=env, timeout=300)


def interacted(settings: Settings, user: str, item: str) -> bool:
    with open_store(settings) as store:
        [paths] = store.find_paths([PathQuery(NodeRef(USER, user), NodeRef(ITEM, item), max_hops=1)])
    return bool(paths)


@pytest.mark.parametrize("kind", ["embedded", pytest.param("neo4j", marks=pytest.mark.neo4j)])
def test_events_into_the_store(kind: str, trained: Path, ml100k_catalog: Catalog, tmp_path: Path) -> None:
    settings = store_settings(kind, copy_home(trained, tmp_path / "home"), ml100k_catalog)
    events = tmp_path / "events.jsonl"
    events.write_text("\n".join(LINES) + "\n")
    done = kgrec(settings, "events", str(events), "--store", kind)
    assert done.returncode == 1, done.stderr
    assert "line 4: not valid JSON" in done.stderr
    assert "line 5, field 'item_id': item_id 'no-such-item' is not an item of this catalog or the store" in done.stderr
    assert "line 6, field 'rating': rating 'lots' is not a number" in done.stderr
    assert f"2 events written to the {kind} store, 3 rejected" in done.stderr
    assert interacted(settings, "cli-user", STAR_WARS[0]) and interacted(settings, "cli-user", STAR_WARS[1])
    assert not interacted(settings, "cli-user", STAR_WARS[2])


def test_events_from_a_pipe_to_a_running_server(trained: Path, ml100k_catalog: Catalog, tmp_path: Path) -> None:
    settings = store_settings("embedded", copy_home(trained, tmp_path / "home"), ml100k_catalog)
    service = RecommendationService(settings)
    try:
        with live(create_app(service, ui=False)) as server:
            refused = kgrec(settings, "events", "-", "--url", server.url, stdin=LINES[0] + "\n")
            assert refused.returncode == 2 and "needs the API token" in refused.stderr
            assert "cli-user" not in service.state.user_index
            done = kgrec(settings, "events", "-", "--url", server.url, stdin="\n".join(LINES) + "\n", token=TOKEN)
            assert done.returncode == 1 and f"2 events sent to {server.url}, 3 rejected" in done.stderr, done.stderr
            assert "line 6, field 'rating'" in done.stderr
        state = service.state
        user = state.user_index["cli-user"]
        assert {str(state.item_ids[i]) for i in state.seen[user]} == set(STAR_WARS[:2])
        assert interacted(settings, "cli-user", STAR_WARS[0])
    finally:
        service.close()

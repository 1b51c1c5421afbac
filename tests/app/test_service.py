"""The recommendation contract over a tiny trained model: every cold-start path, the
popularity fallback, error lines, and a new item served with no retraining."""
from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

import kgrec.app.service
from kgrec.app.service import VERSION_POLL_S, RecommendationService, default_model_dir
from kgrec.kg.catalog import Catalog
from kgrec.kg.errors import KgrecError, StoreUnavailable
from kgrec.kg.settings import Settings
from conftest import FIXTURES
from helpers import ingest_folder, write_catalog
from ui_support import STAR_WARS, copy_home, settings_for, trained_home


@pytest.fixture(scope="module")
def home(ml100k_catalog: Catalog, data_settings: Settings, tmp_path_factory: pytest.TempPathFactory) -> Path:
    return trained_home(ml100k_catalog, tmp_path_factory.mktemp("service"), data_settings.home / "cache")


@pytest.fixture(scope="module")
def service(home: Path) -> Iterator[RecommendationService]:
    opened = RecommendationService(settings_for(home))
    yield opened
    opened.close()


def ids(answer: dict) -> list[str]:
    return [entry["item_id"] for entry in answer["items"]]


def test_known_user_never_gets_what_they_already_had(service: RecommendationService) -> None:
    user = service.export.ids("User")[0]
    [answer] = service.recommend([{"id": "a", "user_id": user, "k": 10}])
    assert answer["id"] == "a" and answer["error"] is None and answer["fallback"] is None
    assert len(ids(answer)) == 10
    seen = {str(service.item_ids[i]) for i in service.seen[service.user_index[user]]}
    assert not seen & set(ids(answer))
    scores = [entry["score"] for entry in answer["items"]]
    assert scores == sorted(scores, reverse=True)


@pytest.mark.parametrize(
    "request_",
    [
        {"attributes": {"gender": "female", "age": "25-34"}},
        {"liked": list(STAR_WARS)},
        {"text": "a space adventure with rebels, an empire and jedi knights"},
        {"liked": ["50"], "attributes": {"occupation": "student"}, "text": "space opera"},
    ],
    ids=["attributes", "liked", "text", "mix"],
)
def test_new_users(service: RecommendationService, request_: dict) -> None:
    [answer] = service.recommend([{"id": 1, "k": 5, **request_}])
    assert answer["error"] is None and answer["fallback"] is None
    assert len(ids(answer)) == 5
    assert not set(request_.get("liked", [])) & set(ids(answer))


def test_text_steers_the_ranking(service: RecommendationService) -> None:
    space, romance = service.recommend([
        {"id": 1, "text": "science fiction space war with spaceships and aliens", "k": 10},
        {"id": 2, "text": "a tender romantic comedy about love and marriage", "k": 10},
    ])
    assert ids(space) != ids(romance)


def test_fresh_likes_update_a_known_user_at_once(service: RecommendationService) -> None:
    user = service.export.ids("User")[0]
    before, after = service.recommend([{"id": 1, "user_id": user}, {"id": 2, "user_id": user, "liked": [ids_of_unseen(service, user)]}])
    assert ids(before) != ids(after)
    assert ids_of_unseen(service, user) not in ids(after)


def ids_of_unseen(service: RecommendationService, user: str) -> str:
    seen = set(service.seen[service.user_index[user]].tolist())
    return next(str(service.item_ids[i]) for i in range(len(service.item_ids)) if i not in seen)


def test_empty_request_falls_back_to_popularity(service: RecommendationService) -> None:
    [answer] = service.recommend([{"id": 9, "k": 3, "exclude": []}])
    assert answer["fallback"].startswith("popularity")
    counts = service.popularity
    assert [counts[service.item_index[i]] for i in ids(answer)] == sorted(counts, reverse=True)[:3]


def test_candidates_and_exclude(service: RecommendationService) -> None:
    candidates = [str(i) for i in service.item_ids[:6]]
    [answer] = service.recommend([{"id": 1, "liked": ["50"], "candidates": candidates, "exclude": candidates[:2], "k": 10}])
    assert set(ids(answer)) == set(candidates[2:]) - {"50"}


def test_bad_requests_get_their_own_error_lines(service: RecommendationService) -> None:
    lines = [
        '{"id": 1, "user_id": "no-such-user"}',
        '{"id": 2, "liked": ["50", "no-such-item"]}',
        '{"id": 3, "liked": ["50"], "k": 0}',
        "not json",
        '{"id": 5, "liked": ["50"], "k": 2}',
        '{"id": 6, "candidates": ["nope"], "liked": ["50"]}',
    ]
    answers = service.answer_lines(lines)
    assert [a["id"] for a in answers] == [1, 2, 3, None, 5, 6]
    assert "unknown user_id 'no-such-user'" in answers[0]["error"]
    assert "unknown item id(s) in liked: 'no-such-item'" in answers[1]["error"]
    assert "k must be a positive integer" in answers[2]["error"]
    assert "line 4 is not valid JSON" in answers[3]["error"]
    assert answers[4]["error"] is None and len(answers[4]["items"]) == 2
    assert "unknown item id(s) in candidates" in answers[5]["error"]
    assert all(a["items"] == [] for a in answers if a["error"])


def test_concurrent_callers_get_the_answers_they_would_get_alone(service: RecommendationService,
                                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    """Requests from threads arriving while a batch is scored are answered together in the
    next one (kgrec.app.coalesce), each with its own answer, a bad one with its own error."""
    users = service.export.ids("User")[:12]
    requests = [{"id": n, "user_id": user, "k": 10} for n, user in enumerate(users)]
    requests += [{"id": "liked", "liked": list(STAR_WARS), "k": 10}, {"id": "bad", "user_id": "no-such-user"},
                 {"id": "text", "text": "space opera with rebels", "k": 10, "exploration": 0.5}]
    alone = {r["id"]: service.recommend([r])[0] for r in requests}
    batches: list[int] = []
    run = service._answers._run

    def slow_first(parsed: list) -> list:
        batches.append(len(parsed))
        if len(batches) == 1:
            time.sleep(0.3)  # the others arrive meanwhile
        return run(parsed)

    monkeypatch.setattr(service._answers, "_run", slow_first)
    together: dict[object, dict] = {}
    threads = [threading.Thread(target=lambda r=r: together.update({r["id"]: service.recommend([r])[0]}))
               for r in requests]
    for thread in threads:
        thread.start()
        time.sleep(0.01)
    for thread in threads:
        thread.join(30)
    assert max(batches) > 1 and sum(batches) == len(requests)
    assert together.keys() == alone.keys()
    for key, answer in together.items():
        assert answer["error"] == alone[key]["error"] and ids(answer) == ids(alone[key])
        np.testing.assert_allclose([e["score"] for e in answer["items"]], [e["score"] for e in alone[key]["items"]],
                                   atol=1e-4)
    assert "unknown user_id" in together["bad"]["error"]


def test_unknown_attribute_values_give_warnings(service: RecommendationService) -> None:
    alone, mixed = service.recommend([
        {"id": 1, "attributes": {"gender": "martian"}, "k": 3},
        {"id": 2, "attributes": {"gender": "female", "planet": "mars"}, "k": 3},
    ])
    assert alone["error"] is None and alone["fallback"].startswith("popularity") and len(alone["items"]) == 3
    assert alone["warnings"] == ["attribute gender='martian' is not in the graph and was ignored"]
    assert mixed["fallback"] is None and mixed["warnings"] == ["attribute planet='mars' is not in the graph and was ignored"]


def test_no_line_takes_the_batch_down(home: Path, tmp_path: Path) -> None:
    """The lines of issue 14 (#8, #11) among good ones: each bad one gets its own error, the
    good ones are answered, and the output is strict JSON."""
    requests = tmp_path / "requests.jsonl"
    lines = [
        '{"id": "a", "liked": ["50"]}',
        '{"id": ' + "1" * 4301 + ', "liked": ["50"]}',
        "[" * 100_000 + "]" * 100_000,
        '{"id": "s", "text": "space \\udcff opera"}',
        '{"id": NaN, "liked": ["50"]}',
        '{"id": "e", "liked": ["50"], "explain": "no"}',
        '{"id": "l", "liked": "50"}',
        '{"id": "z", "text": "space opera", "k": 2}',
    ]
    requests.write_text("\n".join(lines) + "\n", encoding="utf-8")
    out = tmp_path / "recs.jsonl"
    environ = {k: v for k, v in os.environ.items() if not k.startswith("KGREC_")} | {"KGREC_HOME": str(home), "KGREC_DEVICE": "cpu"}
    done = subprocess.run([sys.executable, "-m", "kgrec.app.cli", "recommend", "--batch", str(requests), "--out", str(out), "-k", "4"],
                          capture_output=True, text=True, env=environ, timeout=300)
    assert done.returncode == 0, done.stderr
    assert "Traceback" not in done.stderr and "8 answers, 6 with an error" in done.stderr

    def strict(name: str) -> None:
        raise AssertionError(f"{name} in the output")

    answers = [json.loads(line, parse_constant=strict) for line in out.read_text(encoding="utf-8").splitlines()]
    assert [a["id"] for a in answers] == ["a", None, None, "s", None, "e", "l", "z"]
    errors = [a["error"] for a in answers]
    assert errors[0] is None and len(answers[0]["items"]) == 4
    assert errors[7] is None and len(answers[7]["items"]) == 2
    assert "line 2 holds a number too long" in errors[1]
    assert "line 3 nests deeper than" in errors[2]
    assert "text holds '\\udcff' at position 6" in errors[3]
    assert "line 5: NaN is not a number JSON allows" in errors[4]
    assert "explain must be true or false" in errors[5]
    assert "liked must be a list of item ids" in errors[6]


def test_new_item_is_served_without_retraining(home: Path, tmp_path: Path) -> None:
    copy = copy_home(home, tmp_path / "home")
    settings = settings_for(copy)
    service = RecommendationService(settings)
    try:
        new = write_catalog(
            tmp_path / "new",
            items="item_id,title,description\nnew-1,Star Wars: Rogue Rebels,A rebel pilot steals the plans of the Death Star from the Empire.\n"
            "new-2,The Quiet Farm,A documentary about a year on a dairy farm.\n",
            interactions="user_id,item_id\n",
            # Both new items have facts the graph holds (the small catalog has no documentary,
            # and a text-only item is placed by another line: tests/gnn/test_fusion.py).
            triples="head,relation,tail\nnew-1,IN_GENRE,genre:Sci-Fi\nnew-1,IN_GENRE,genre:Action\nnew-1,IN_GENRE,genre:Adventure\n"
            "new-2,IN_GENRE,genre:Children's\nnew-2,IN_GENRE,genre:Musical\n",
        )
        ingest_folder(new, service.store, settings)
        service.reload()
        [fan] = service.recommend([{"id": 1, "liked": list(STAR_WARS), "candidates": ["new-1", "new-2"]}])
        assert ids(fan) == ["new-1", "new-2"]
        [everything] = service.recommend([{"id": 3, "liked": list(STAR_WARS), "k": 1000}])
        assert {"new-1", "new-2"} <= set(ids(everything))
        assert np.isfinite([entry["score"] for entry in everything["items"]]).all()
        # the exploration option lets the new items up the full list, and is checked
        calm, bold = service.recommend([{"id": 4, "liked": list(STAR_WARS), "k": 1000, "exploration": 0},
                                        {"id": 5, "liked": list(STAR_WARS), "k": 1000, "exploration": 1}])
        assert ids(bold).index("new-1") < ids(calm).index("new-1")
        assert ids(bold).index("new-2") < ids(calm).index("new-2")
        [bad] = service.recommend([{"id": 6, "liked": list(STAR_WARS), "exploration": 2}])
        assert bad["items"] == [] and "exploration" in bad["error"]
    finally:
        service.close()


def test_the_service_notices_an_ingest_by_another_writer(home: Path, tmp_path: Path) -> None:
    """A CLI ingest into the store the service reads (another handle, as another process):
    ``reload_if_changed`` serves the new item; the service's own later write keeps it."""
    from kgrec.kg.store.embedded import EmbeddedStore

    settings = settings_for(copy_home(home, tmp_path / "home"))
    service = RecommendationService(settings)
    try:
        assert service.reload_if_changed() is False
        new = write_catalog(tmp_path / "new", items="item_id,title,description\ncli-1,Rebel Moon,Space rebels fight an empire.\n",
                            interactions="user_id,item_id\n", triples="head,relation,tail\ncli-1,IN_GENRE,genre:Sci-Fi\n")
        with EmbeddedStore(settings.store_dir) as other:
            ingest_folder(new, other, settings)
        assert service.reload_if_changed() is True and service.reload_if_changed() is False
        [answer] = service.recommend([{"id": 1, "liked": list(STAR_WARS), "candidates": ["cli-1"]}])
        assert ids(answer) == ["cli-1"]
        mine = write_catalog(tmp_path / "mine", items="item_id,title,description\napp-1,Added,From the app.\n",
                             interactions="user_id,item_id\n")
        ingest_folder(mine, service.store, settings)
        with EmbeddedStore(settings.store_dir) as other:
            assert {"cli-1", "app-1"} <= set(other.export().ids("Item"))
    finally:
        service.close()


def test_the_service_serves_another_writers_items_by_itself(home: Path, tmp_path: Path) -> None:
    """No reload is asked for: the background poll of ``store.version()`` sees the ingest of
    another process and refreshes; the service's own writes do not trigger one."""
    from kgrec.kg.store.embedded import EmbeddedStore

    settings = settings_for(copy_home(home, tmp_path / "home"))
    service = RecommendationService(settings)
    try:
        mine = service.add_items([{"item_id": "app-2", "title": "Added here", "description": "By the service."}])
        assert mine.accepted == ["app-2"]
        time.sleep(3 * VERSION_POLL_S)
        assert service.stats.refreshes == 0  # its own write is not another writer's
        new = write_catalog(tmp_path / "new", items="item_id,title,description\ncli-2,Rebel Moon,Space rebels.\n",
                            interactions="user_id,item_id\n")
        with EmbeddedStore(settings.store_dir) as other:
            ingest_folder(new, other, settings)
        deadline = time.time() + 30
        while "cli-2" not in service.item_index and time.time() < deadline:
            time.sleep(0.2)
        assert "cli-2" in service.item_index and "app-2" in service.item_index
        assert service.stats.refreshes >= 1
    finally:
        service.close()


def test_its_own_slow_write_never_looks_like_another_writers(home: Path, tmp_path: Path,
                                                              monkeypatch: pytest.MonkeyPatch) -> None:
    """The version poll never reads the store halfway through one of the service's own
    writes: a write that lingers past a poll after changing the store starts no refresh."""
    settings = settings_for(copy_home(home, tmp_path / "home"))
    service = RecommendationService(settings)
    try:
        store = service.store
        write = store.write_interactions

        def lingering(events):  # type: ignore[no-untyped-def]
            written = write(events)
            time.sleep(1.5 * VERSION_POLL_S)  # the store has moved; the service has not noted it yet
            return written

        monkeypatch.setattr(store, "write_interactions", lingering)
        user, item = service.state.user_ids[0], str(service.state.item_ids[-1])
        assert service.record_events([{"user_id": user, "item_id": item}]).accepted
        time.sleep(2 * VERSION_POLL_S)
        assert service.stats.refreshes == 0
    finally:
        service.close()


def test_background_refreshes_take_at_most_their_share_of_the_time(home: Path, tmp_path: Path,
                                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    """After a whole refresh that took ``d`` seconds the next background one waits until
    ``d / REFRESH_SHARE`` seconds after the first began, however many events fall due
    meanwhile (here every event makes one due); the events are served at once all the same."""
    service = RecommendationService(settings_for(copy_home(home, tmp_path / "home")).with_(refresh_events=1))
    try:
        started = time.monotonic()
        service.reload()
        monkeypatch.setattr(kgrec.app.service, "REFRESH_SHARE", (time.monotonic() - started) / 8)  # a rest of ~8 s
        started = time.monotonic()
        service.reload()
        user = service.state.user_ids[0]
        seen = {str(service.state.item_ids[i]) for i in service.state.seen[service.state.user_index[user]]}
        fresh = [str(i) for i in service.state.item_ids if str(i) not in seen][:3]
        for item in fresh:
            assert service.record_events([{"user_id": user, "item_id": item}]).accepted
        assert not set(fresh) & set(ids(service.recommend([{"user_id": user, "k": 50}])[0]))
        time.sleep(2 * VERSION_POLL_S)
        assert service.stats.refreshes == 2  # the two asked for; the one due since the first event rests
        deadline = time.monotonic() + 60
        while service.stats.refreshes == 2 and time.monotonic() < deadline:
            time.sleep(0.1)
        assert service.stats.refreshes == 3 and time.monotonic() - started >= 4.5
    finally:
        service.close()


def test_an_event_is_written_when_a_version_read_misses_its_deadline(service: RecommendationService,
                                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    """The version reads around a write only tell the service's own writes from others': a
    busy store answering one late does not refuse the events."""
    def late() -> str:
        raise StoreUnavailable("the embedded store did not answer within 1 s")

    monkeypatch.setattr(service.store, "version", late)
    item = str(service.state.item_ids[0])
    outcome = service.record_events([{"user_id": "late-version-reader", "item_id": item}])
    assert [e["item_id"] for e in outcome.accepted] == [item] and outcome.rejected == []
    monkeypatch.undo()
    assert item not in ids(service.recommend([{"user_id": "late-version-reader", "k": 50}])[0])


def test_model_from_another_catalog_is_refused(home: Path, tmp_path: Path) -> None:
    other = Settings.from_env(environ={}, home=tmp_path / "other", device="cpu")
    from kgrec.kg.store.embedded import EmbeddedStore

    with EmbeddedStore(other.store_dir) as store:
        ingest_folder(FIXTURES / "tiny", store, other)
    with pytest.raises(KgrecError, match="does not match the embedded store"):
        RecommendationService(other, default_model_dir(settings_for(home)))


def test_missing_or_corrupt_model(home: Path, tmp_path: Path) -> None:
    settings = settings_for(home)
    with pytest.raises(KgrecError, match="no-model"):
        RecommendationService(settings, tmp_path / "no-model")
    broken = tmp_path / "broken"
    broken.mkdir()
    for part in default_model_dir(settings).iterdir():
        (broken / part.name).write_bytes(b"garbage" if part.suffix in (".pt", ".json") else part.read_bytes())
    with pytest.raises(KgrecError):
        RecommendationService(settings, broken)


def test_batch_cli_answers_every_line_in_order(home: Path, tmp_path: Path) -> None:
    requests = tmp_path / "requests.jsonl"
    requests.write_text('{"id": "x", "liked": ["50"]}\n{"id": "y", "k": -1}\n{"id": "z"}\n')
    out = tmp_path / "recs.jsonl"
    environ = {k: v for k, v in os.environ.items() if not k.startswith("KGREC_")} | {"KGREC_HOME": str(home), "KGREC_DEVICE": "cpu"}
    done = subprocess.run([sys.executable, "-m", "kgrec.app.cli", "recommend", "--batch", str(requests), "--out", str(out), "-k", "4"],
                          capture_output=True, text=True, env=environ, timeout=300)
    assert done.returncode == 0, done.stderr
    answers = [json.loads(line) for line in out.read_text().splitlines()]
    assert [a["id"] for a in answers] == ["x", "y", "z"]
    assert len(answers[0]["items"]) == 4 and answers[0]["error"] is None
    assert answers[1]["error"] and answers[2]["fallback"]


def test_explain_item_returns_real_paths(service: RecommendationService) -> None:
    user = service.export.ids("User")[0]
    [answer] = service.recommend([{"id": 1, "user_id": user, "k": 1}])
    item = ids(answer)[0]
    explanations = service.explain_item({"user_id": user}, item)
    assert explanations and all(e["nodes"][0] == {"label": "User", "id": user, "name": f"user {user}"} for e in explanations)
    assert all(e["nodes"][-1]["id"] == item and len(e["relationships"]) <= 3 for e in explanations)
    new_user = service.explain_item({"liked": list(STAR_WARS)}, item)
    assert all(e["nodes"][0]["id"] in STAR_WARS and e["sentence"].startswith("You liked *") for e in new_user)
    from kgrec.app.requests import RequestError

    with pytest.raises(RequestError, match="unknown item id 'nope'"):
        service.explain_item({"user_id": user}, "nope")
    with pytest.raises(RequestError, match="name a user"):
        service.explain_item({}, item)


def test_explain_cli(home: Path) -> None:
    environ = {k: v for k, v in os.environ.items() if not k.startswith("KGREC_")} | {"KGREC_HOME": str(home), "KGREC_DEVICE": "cpu"}
    done = subprocess.run([sys.executable, "-m", "kgrec.app.cli", "explain", "--liked", ",".join(STAR_WARS[:2]), "--item", STAR_WARS[2]],
                          capture_output=True, text=True, env=environ, timeout=300)
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("1. You liked *") and "[Item]" in done.stdout

"""Concurrent writers on the embedded store, as real processes: ``kgrec ingest`` runs and an
app-style writer (which opened the store before they started) at once lose nothing."""
from __future__ import annotations

from pathlib import Path

from bench.faults_writers import run_round, write_catalogs


def test_four_ingests_and_an_app_writer_at_once_lose_nothing(tmp_path: Path) -> None:
    catalogs = write_catalogs(tmp_path / "catalogs", 4)
    result = run_round(tmp_path / "home", catalogs)
    assert result.failed == []
    assert result.lost_catalogs == []
    assert result.app_items >= 2 and result.lost_app_items == []

"""Fixtures of the privacy tests: purge chunks small or as in production (the purge run
in-process, task_queue and run_purge, is in tests/conftest.py: the support tests use it
too)."""

from __future__ import annotations

import pytest


@pytest.fixture
def small_chunks(monkeypatch):
    """Chunks of a few rows, so a small account takes many chunks."""
    from privacy.deletion import purge

    monkeypatch.setattr(purge, "PURGE_CHUNK_SIZE", 3)
    return 3

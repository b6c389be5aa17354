"""Loaded into the test's worker processes (CELERY_IMPORTS in purge_worker_settings.py).

Smaller chunks, and a pause inside each chunk's transaction after its rows were erased
but before it commits. The test sends its SIGKILL during such a pause, so it lands
mid-chunk: the case where a half-done chunk must roll back and be done again, once.
"""

from __future__ import annotations

import os
import time

from privacy.deletion import purge

purge.PURGE_CHUNK_SIZE = int(os.environ["PORTAL_TEST_PURGE_CHUNK_SIZE"])
_PAUSE_SECONDS = float(os.environ["PORTAL_TEST_PURGE_CHUNK_PAUSE"])
_erase = purge._erase


def _slow_erase(*args, **kwargs):
    erased = _erase(*args, **kwargs)
    if erased:
        time.sleep(_PAUSE_SECONDS)
    return erased


purge._erase = _slow_erase

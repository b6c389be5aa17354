"""bench/gateway.py runs end to end at a tiny size: both LiteLLM proxies start, every
request is answered, the plugin's generations reach the portal, the JSON line has
DESIGN.md's keys, and the run leaves nothing behind. Its figures at this size mean
nothing; the lead measures them at full size on a quiet machine (bench/README.md)."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest
from django.conf import settings

from accounts.models import User
from catalog.models import LanguageModel, Provider
from logging_prefs.models import Generation
from tests.helpers.litellm import require_plugin
from tests.worker_process import database_url

require_plugin()

# The benchmark's server reads the committed test database from another process.
pytestmark = pytest.mark.django_db(transaction=True)


def test_the_gateway_benchmark_runs_and_reports_both_sides():
    env = {key: value for key, value in os.environ.items() if key != "DJANGO_SETTINGS_MODULE"} | {
        "DATABASE_URL": database_url()
    }
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "bench.gateway",
            "--sequential",
            "4",
            "--concurrent",
            "8",
            "--connections",
            "2",
            "--rounds",
            "1",
        ],
        cwd=settings.BASE_DIR,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    lines = done.stdout.strip().splitlines()
    result = json.loads(lines[-1])
    assert (result["bench"], result["unit"]) == ("gateway", "req/s")
    assert result["project"] > 0 and result["baseline"] > 0
    assert result["ratio"] == pytest.approx(result["project"] / result["baseline"], abs=0.01)
    for key in ("added_p50_ms", "added_p99_ms", "plugin_p50_ms", "baseline_p50_ms"):
        assert isinstance(result[key], float | int), key
    # Every request served through the plugin became one generation on the portal.
    assert result["shipped"] == result["served_with_plugin"] == 10 + 4 + 8
    assert any(line.startswith("added by the portal, sequential: median") for line in lines)
    # It cleaned up after itself.
    assert not User.objects.filter(email__startswith="bench-").exists()
    assert not LanguageModel.objects.filter(author__startswith="bench-").exists()
    assert not Provider.objects.filter(slug__startswith="bench-").exists()
    assert not Generation.objects.exists()

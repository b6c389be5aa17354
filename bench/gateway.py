"""Benchmark `gateway`: chat completions through the LiteLLM proxy with the portal plugin
(integrations/litellm) against the same proxy with plain key auth, in one run.

    DATABASE_URL=postgres://… REDIS_URL=redis://… .venv/bin/python -m bench.gateway

Two LiteLLM proxies run side by side from the same configuration: the same mock
deployment (`mock_response`, so no upstream and no network), the same router and
litellm settings. One has the plugin (`custom_auth` asks the portal's
/internal/v1/authorize on every request; its callback ships each generation to the
portal, under gunicorn as the gateway's server is deployed:
portal/gunicorn_gateway_conf.py); the other authenticates with its master key and
has no callback. The difference between the two is what the portal costs a request.

Each side is driven with plain HTTP (httpx, kept-alive connections): first sequential
requests (one at a time: the latency the portal adds to one request), then concurrent
ones (CONNECTIONS at a time: the throughput and the tail under load), in ROUNDS rounds.
The sequential requests go to the two sides in turn, one to each (which side goes first
alternates too), so that a drift in the machine's or the proxies' speed weighs on both
alike: measured one side after the other, the plain proxy's own median moved by up to
5 ms between runs, more than what is measured (bench/README.md, "gateway"). The
concurrent runs alternate side after side (bench.harness). Printed: the median and p99
of each side and what the plugin adds, and last the JSON line (DESIGN.md): concurrent
completions a second with the plugin against without, `added_p50_ms` and
`added_p99_ms` from the sequential requests.

Options, for a quick check of the machinery (tests/bench/test_gateway_bench.py):
--sequential N, --concurrent N (requests per round and side), --connections N,
--rounds N. It builds its own account, key and catalog model and deletes them, with the
generations the plugin shipped, at the end.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import secrets
import signal
import statistics
import subprocess
import tempfile
import time
import urllib.request
import uuid
from decimal import Decimal
from pathlib import Path

from bench.harness import BIN, GATEWAY_TOKEN, free_port, gunicorn, report, setup_django

SEQUENTIAL = 300
CONCURRENT = 1500
CONNECTIONS = 16
ROUNDS = 3
PROXY_START_TIMEOUT = 240
# Environment the proxies must not see: DATABASE_URL would become LiteLLM's own
# database (prisma), REDIS_* would turn on its cache.
NOT_FOR_THE_PROXY = {"DATABASE_URL", "REDIS_URL", "REDIS_HOST", "DJANGO_SETTINGS_MODULE"}


def _configs(model_id: str, provider: str) -> tuple[dict, dict]:
    """(with the plugin, plain): the same deployments and settings but for auth and the
    plugin's callback."""
    from catalog.litellm_proxy import deployment, proxy_config

    with_plugin = proxy_config([deployment(model_id, provider)])
    plain = json.loads(json.dumps(with_plugin))
    plain["litellm_settings"]["callbacks"] = []
    del plain["general_settings"]["custom_auth"]
    return with_plugin, plain


@contextlib.contextmanager
def _proxy(name: str, config: dict, work: Path, env: dict):
    """A LiteLLM proxy with `config` on a free loopback port; its base URL."""
    from catalog.litellm_proxy import dumps

    folder = work / name
    folder.mkdir()
    (folder / "litellm.yaml").write_text(dumps(config))
    port = free_port()
    log = (folder / "proxy.log").open("wb")
    process = subprocess.Popen(
        [
            str(BIN / "litellm"),
            "--config",
            str(folder / "litellm.yaml"),
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
        ],
        cwd=folder,
        env=env | {"PORTAL_SPOOL_DIR": str(folder / "spool")},
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    try:
        yield f"http://127.0.0.1:{port}", process, folder / "proxy.log"
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGTERM)
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait()
        log.close()


def _wait_until_ready(url: str, process: subprocess.Popen, log: Path) -> None:
    deadline = time.monotonic() + PROXY_START_TIMEOUT
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise SystemExit(f"a LiteLLM proxy exited at start-up:\n{log.read_text()[-3000:]}")
        try:
            with urllib.request.urlopen(url + "/health/liveliness", timeout=2) as answer:  # noqa: S310
                if answer.status == 200:
                    return
        except OSError:
            pass
        time.sleep(0.5)
    raise SystemExit(f"a LiteLLM proxy did not start:\n{log.read_text()[-3000:]}")


async def _drive(url: str, key: str, model_id: str, requests: int, connections: int) -> dict:
    """`requests` chat completions, `connections` at a time; every latency in ms and the
    rate."""
    import httpx

    body = {"model": model_id, "messages": [{"role": "user", "content": "Six times seven?"}]}
    latencies: list[float] = []
    failures: list[str] = []
    remaining = iter(range(requests))
    limits = httpx.Limits(max_connections=connections, max_keepalive_connections=connections)
    async with httpx.AsyncClient(
        base_url=url, headers={"Authorization": f"Bearer {key}"}, timeout=60, limits=limits
    ) as client:

        async def worker() -> None:
            for _ in remaining:
                started = time.perf_counter()
                answer = await client.post("/v1/chat/completions", json=body)
                latencies.append((time.perf_counter() - started) * 1000)
                if answer.status_code != 200:
                    failures.append(f"{answer.status_code} {answer.text[:200]}")

        started = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(connections)))
        elapsed = time.perf_counter() - started
    if failures:
        raise SystemExit(f"{url}: {len(failures)} requests failed, first: {failures[0]}")
    return {"latencies": latencies, "rps": requests / elapsed}


async def _drive_in_turn(sides: dict[str, tuple[str, str]], model_id: str, requests: int) -> dict:
    """`requests` sequential chat completions to each side, the sides in turn; each
    side's latencies in ms and its rate (requests over the time its own requests took)."""
    import httpx

    body = {"model": model_id, "messages": [{"role": "user", "content": "Six times seven?"}]}
    order = list(sides)
    latencies: dict[str, list[float]] = {side: [] for side in order}
    async with contextlib.AsyncExitStack() as stack:
        clients = {
            side: await stack.enter_async_context(
                httpx.AsyncClient(
                    base_url=url, headers={"Authorization": f"Bearer {key}"}, timeout=60
                )
            )
            for side, (url, key) in sides.items()
        }
        for index in range(requests):
            for side in order if index % 2 == 0 else reversed(order):
                started = time.perf_counter()
                answer = await clients[side].post("/v1/chat/completions", json=body)
                latencies[side].append((time.perf_counter() - started) * 1000)
                if answer.status_code != 200:
                    raise SystemExit(f"{side}: {answer.status_code} {answer.text[:200]}")
    return {
        side: {"latencies": found, "rps": len(found) / (sum(found) / 1000)}
        for side, found in latencies.items()
    }


def _percentile(values: list[float], percent: float) -> float:
    """Nearest-rank percentile, as the other benchmarks rank wrk's latencies."""
    ordered = sorted(values)
    rank = max(int(len(ordered) * percent / 100 + 0.5), 1)
    return ordered[min(rank, len(ordered)) - 1]


def _summary(runs: list[dict]) -> dict:
    latencies = [value for run in runs for value in run["latencies"]]
    return {
        "p50_ms": round(statistics.median(latencies), 2),
        "p99_ms": round(_percentile(latencies, 99), 2),
        "rps": round(sum(run["rps"] for run in runs) / len(runs), 1),
        "requests": len(latencies),
    }


def warm_up(options) -> int:
    """Requests each side serves before the measured ones."""
    return max(options.connections * 2, 10)


def measure(sides: dict[str, tuple[str, str]], model_id: str, options) -> dict:
    """Both sides, sequential (in turn) then concurrent (one side after the other),
    round after round."""
    runs: dict[tuple[str, str], list[dict]] = {}
    # Warm both (connections, the plugin's client, imports) before measuring.
    for url, key in sides.values():
        asyncio.run(_drive(url, key, model_id, warm_up(options), 2))
    for _ in range(options.rounds):
        in_turn = asyncio.run(_drive_in_turn(sides, model_id, options.sequential))
        for side, run in in_turn.items():
            runs.setdefault((side, "sequential"), []).append(run)
        for side, (url, key) in sides.items():
            run = asyncio.run(_drive(url, key, model_id, options.concurrent, options.connections))
            runs.setdefault((side, "concurrent"), []).append(run)
    return {f"{side} {mode}": _summary(found) for (side, mode), found in runs.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sequential", type=int, default=SEQUENTIAL)
    parser.add_argument("--concurrent", type=int, default=CONCURRENT)
    parser.add_argument("--connections", type=int, default=CONNECTIONS)
    parser.add_argument("--rounds", type=int, default=ROUNDS)
    options = parser.parse_args()

    setup_django()
    from django.conf import settings

    from accounts.actions import do_create_api_key
    from accounts.models import User
    from catalog.models import Endpoint, LanguageModel, Provider
    from logging_prefs.models import Generation, UsageDailyTotal

    run = uuid.uuid4().hex[:12]
    email = f"bench-{run}@bench.invalid"
    provider_name = f"Bench Provider {run}"
    try:
        user = User.objects.create_user(email)
        model = LanguageModel.objects.create(author=f"bench-{run}", slug="model", name="bench")
        Endpoint.objects.create(
            model=model,
            provider=Provider.objects.create(slug=f"bench-{run}", name=provider_name),
            input_price=Decimal("1"),
            output_price=Decimal("2"),
            region=settings.PORTAL_DATA_REGION,
        )
        _, raw_key = do_create_api_key(user=user, acting_user=user, name="bench")
        with_plugin, plain = _configs(model.model_id, provider_name)
        master_key = "sk-" + secrets.token_urlsafe(32)
        with (
            gunicorn(config="gunicorn_gateway_conf.py") as portal,
            tempfile.TemporaryDirectory() as scratch,
        ):
            env = {k: v for k, v in os.environ.items() if k not in NOT_FOR_THE_PROXY} | {
                "LITELLM_LOCAL_MODEL_COST_MAP": "True",
                "LITELLM_MASTER_KEY": master_key,
                "PORTAL_URL": portal,
                "PORTAL_GATEWAY_TOKEN": GATEWAY_TOKEN,
                "PYTHONPATH": str(Path(__file__).resolve().parent.parent),
            }
            work = Path(scratch)
            with (
                _proxy("plugin", with_plugin, work, env) as (plugin_url, plugin_proc, plugin_log),
                _proxy("plain", plain, work, env) as (plain_url, plain_proc, plain_log),
            ):
                _wait_until_ready(plugin_url, plugin_proc, plugin_log)
                _wait_until_ready(plain_url, plain_proc, plain_log)
                sides = {"plugin": (plugin_url, raw_key), "plain": (plain_url, master_key)}
                results = measure(sides, model.model_id, options)
                # The plugin's records reach the portal: what it did was what it does.
                shipped = _wait_for_generations(Generation, user)
        served = warm_up(options) + sum(
            results[f"plugin {mode}"]["requests"] for mode in ("sequential", "concurrent")
        )
        _print(results, shipped, served)
    finally:
        for found in User.objects.filter(email=email):
            Generation.objects.filter(user=found).delete()
            UsageDailyTotal.objects.filter(user=found).delete()
            found.api_keys.all().delete()
            found.delete()
        LanguageModel.objects.filter(author=f"bench-{run}").delete()
        Provider.objects.filter(slug=f"bench-{run}").delete()


def _wait_for_generations(generation_model, user, settle: float = 3.0) -> int:
    """How many generations the plugin shipped, once the count stops moving."""
    count, deadline = -1, time.monotonic() + 60
    while time.monotonic() < deadline:
        now = generation_model.objects.filter(user=user).count()
        if now == count and now:
            return now
        count = now
        time.sleep(settle)
    return count


def _print(results: dict, shipped: int, served: int) -> None:
    for name, summary in results.items():
        print(f"{name}: {summary}")
    added = {
        mode: {
            "p50_ms": round(
                results[f"plugin {mode}"]["p50_ms"] - results[f"plain {mode}"]["p50_ms"], 2
            ),
            "p99_ms": round(
                results[f"plugin {mode}"]["p99_ms"] - results[f"plain {mode}"]["p99_ms"], 2
            ),
        }
        for mode in ("sequential", "concurrent")
    }
    for mode, delta in added.items():
        print(f"added by the portal, {mode}: median {delta['p50_ms']} ms, p99 {delta['p99_ms']} ms")
    print(f"generations the plugin shipped to the portal: {shipped} of {served} served")
    report(
        "gateway",
        results["plugin concurrent"]["rps"],
        results["plain concurrent"]["rps"],
        "req/s",
        added_p50_ms=added["sequential"]["p50_ms"],
        added_p99_ms=added["sequential"]["p99_ms"],
        concurrent_added_p50_ms=added["concurrent"]["p50_ms"],
        concurrent_added_p99_ms=added["concurrent"]["p99_ms"],
        plugin_p50_ms=results["plugin sequential"]["p50_ms"],
        plugin_p99_ms=results["plugin sequential"]["p99_ms"],
        baseline_p50_ms=results["plain sequential"]["p50_ms"],
        baseline_p99_ms=results["plain sequential"]["p99_ms"],
        concurrent_p99_ms=results["plugin concurrent"]["p99_ms"],
        baseline_concurrent_p99_ms=results["plain concurrent"]["p99_ms"],
        requests=sum(summary["requests"] for summary in results.values()),
        shipped=shipped,
        served_with_plugin=served,
    )


if __name__ == "__main__":
    main()

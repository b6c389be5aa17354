"""The real LiteLLM proxy with the portal plugin (integrations/litellm), against the test
portal (pytest-django's live_server), driven with the `openai` client.

Between the proxy and the portal sits PortalRelay, an HTTP relay in this process: it
records what the portal received (so a test can say no text was sent) and can play a
portal that is down. Behind the proxy's deployments sits FakeProviders, an
OpenAI-compatible server per provider that records each call, so a test can say which
provider was called and make one fail. The proxy takes tens of seconds to start, so one
proxy serves the whole module.
"""

from __future__ import annotations

import os
import secrets
import signal
import subprocess

import pytest
from django.conf import settings

from catalog.demo_data import DEMO_ENDPOINTS
from catalog.litellm_proxy import MASTER_KEY_ENV, deployment, dumps, proxy_config
from tests.helpers.litellm import (
    FakeProviders,
    PortalRelay,
    Proxy,
    free_port,
    litellm_command,
    wait_until_ready,
)


@pytest.fixture(scope="module")
def fake_providers() -> FakeProviders:
    providers = FakeProviders()
    yield providers
    providers.server.shutdown()


@pytest.fixture(scope="module")
def portal_relay(live_server) -> PortalRelay:
    relay = PortalRelay(live_server.url)
    yield relay
    relay.server.shutdown()


@pytest.fixture(scope="module")
def proxy(fake_providers, portal_relay, tmp_path_factory) -> Proxy:
    work = tmp_path_factory.mktemp("litellm")
    config = proxy_config(
        deployment(model, provider, api_base=fake_providers.api_base(provider))
        for model, endpoints in DEMO_ENDPOINTS.items()
        for provider, _, _ in endpoints
    )
    # Another callback beside the plugin's, to see what any callback receives.
    config["litellm_settings"]["callbacks"].append(
        "tests.integrations.litellm.spy_callback.spy_callback"
    )
    config_path = work / "litellm.yaml"
    config_path.write_text(dumps(config))
    master_key = "sk-" + secrets.token_urlsafe(32)
    port = free_port()
    env = {
        key: value
        for key, value in os.environ.items()
        # The proxy reads DATABASE_URL as its own (prisma); REDIS_* would turn on its cache.
        if key not in {"DATABASE_URL", "REDIS_URL", "REDIS_HOST", "DJANGO_SETTINGS_MODULE"}
    }
    env |= {
        "LITELLM_LOCAL_MODEL_COST_MAP": "True",
        MASTER_KEY_ENV: master_key,
        "PORTAL_URL": portal_relay.url,
        "PORTAL_GATEWAY_TOKEN": settings.PORTAL_GATEWAY_TOKEN,
        "PORTAL_SPOOL_DIR": str(work / "spool"),
        "PORTAL_TIMEOUT_SECONDS": "3",
        "PORTAL_TEST_SPY_FILE": str(work / "spy.jsonl"),
        "PYTHONPATH": str(settings.BASE_DIR),
    }
    log = work / "proxy.log"
    with log.open("wb") as out:
        process = subprocess.Popen(
            [
                *litellm_command(),
                "--config",
                str(config_path),
                "--host",
                "127.0.0.1",
                "--port",
                str(port),
            ],
            cwd=work,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    running = Proxy(
        f"http://127.0.0.1:{port}", master_key, process, log, work / "spool" / "generations.jsonl"
    )
    try:
        wait_until_ready(running)
        yield running
    finally:
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


@pytest.fixture
def gateway(proxy, fake_providers, portal_relay):
    """The module's proxy, with the fakes reset for this test."""
    fake_providers.reset()
    portal_relay.reset()
    proxy.start_test()
    yield proxy
    portal_relay.mode = "up"

"""Test settings: the real settings, in development mode, with test-only isolation.

DATABASE_URL and REDIS_URL choose PostgreSQL and Redis exactly as in production;
`.ci/run` always sets both. Without them the tests use the private PostgreSQL and Valkey
servers under var/ (portal/devdb.py, portal/devredis.py), which tests/conftest.py starts.
"""

import os
import uuid

# Always development mode: production mode redirects to HTTPS, which the test client
# and live server do not speak. Production settings are tested in subprocesses.
os.environ["DEBUG"] = "1"

from portal.settings import *  # noqa: E402,F403
from portal.settings import CACHES  # noqa: E402

# Each test run counts rate limits under its own prefix, so runs never see each
# other's counters in a shared Redis; tests clear their own keys (tests/conftest.py).
TEST_RUN_ID = uuid.uuid4().hex[:12]
CACHES["default"]["KEY_PREFIX"] = f"portal-test-{TEST_RUN_ID}"

MAILERS = {"default": {"BACKEND": "django.core.mail.backends.locmem.EmailBackend"}}
PORTAL_GATEWAY_TOKEN = "test-gateway-token"

PASSWORD_HASHERS = ["tests.hashers.FastArgon2PasswordHasher"]

"""The gateway's client (tests/logging_prefs/conftest.py) for the routes API tests."""

from tests.logging_prefs.conftest import gateway  # noqa: F401

"""Benchmark server settings: production settings plus one trivial JSON view (the
baseline every HTTP benchmark compares against), served by the same gunicorn."""

import os

os.environ.setdefault("DEBUG", "0")
os.environ.setdefault("SECRET_KEY", "bench-" + "x" * 60)
os.environ.setdefault("ALLOWED_HOSTS", "127.0.0.1,localhost")
os.environ.setdefault("SECURE_SSL_REDIRECT", "0")
os.environ.setdefault("PORTAL_PLAIN_STATIC", "1")
os.environ.setdefault("LOG_LEVEL", "WARNING")

from portal.settings import *  # noqa: E402,F403

ROOT_URLCONF = "bench.urls"

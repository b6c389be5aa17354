"""gunicorn's settings for the portal, shared by docker-compose.yml and the benchmarks
(bench/harness.py), so that what is measured is what is deployed:

    gunicorn -c portal/gunicorn_conf.py portal.wsgi

Arguments on the command line override these (the benchmarks set --bind and --workers).
"""

from __future__ import annotations

import os

bind = "0.0.0.0:8000"  # noqa: S104 (inside a container, behind its port mapping)

# Synchronous workers, four for two cores (WEB_CONCURRENCY to change it): more or fewer
# served the gateway's decisions no faster, and threaded workers holding keep-alive
# connections made a request wait behind the others its worker holds (bench/README.md,
# "decisions").
workers = int(os.environ.get("WEB_CONCURRENCY", "4"))

# The access log (docker-compose.yml turns it on) names the path, never the query string
# or the Referer: they carry personal data (a wallet address in
# /accounts/wallet/login/?address=…, an app URL in an activity filter, the previous
# page's full URL). gunicorn's default format logs both (%(r)s, %(f)s).
access_log_format = '%(h)s %(l)s %(u)s %(t)s "%(m)s %(U)s %(H)s" %(s)s %(b)s "%(a)s" %(M)sms'

# A worker shows the arbiter it is alive by touching its heartbeat file (os.utime)
# each time round its loop, that is before every request. On a disk-backed /tmp that
# is a metadata write each time (gunicorn's documentation warns it can block a
# worker); in memory it is not, and the HTTP benchmarks serve a little more with it
# (bench/README.md, "decisions").
# gunicorn makes its file there with mkstemp and unlinks it at once.
_IN_MEMORY = "/dev/shm"  # noqa: S108
if os.path.isdir(_IN_MEMORY):
    worker_tmp_dir = _IN_MEMORY

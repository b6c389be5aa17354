"""gunicorn's settings for the gateway's server: the same portal (portal.wsgi) for the
gateway API's callers only, the LiteLLM proxies, which keep their connections open
(docker-compose.yml's `gateway-api`, bench/gateway.py):

    gunicorn -c portal/gunicorn_gateway_conf.py portal.wsgi

The browser-facing server (portal/gunicorn_conf.py) closes each connection after its
response; this one keeps them, which saves a sequential chat completion about a
millisecond of the time the portal adds (bench/README.md, "gateway"). It does so only
for a known, bounded number of connections, hence a server of its own:

- Threaded workers keep a connection open between requests, and each worker accepts
  new connections only while it holds fewer than `worker_connections`. A bounded
  number per worker spreads the callers' connections over the workers: a worker that
  held them all would make their requests wait behind each other while the others idle.
- One thread per worker (GATEWAY_THREADS to change it): a request is mostly Python,
  so more threads in one process only take turns (and under 32 clients the decisions'
  p99 was lower with one thread than with four; bench/README.md, "gateway").
- Sizing rule: the connections every proxy may open to the portal (PORTAL_MAX_CONNECTIONS
  each, 16 by default, times the proxies' processes, plus two for shipping records)
  must not exceed workers (WEB_CONCURRENCY, 4) × worker_connections
  (GATEWAY_WORKER_CONNECTIONS, 8): 32 with the defaults. A connection
  beyond that waits, unaccepted, until one of the others is closed. A smaller
  `worker_connections` spreads the connections more evenly; a larger one leaves room
  for more proxies.
- `keepalive` outlasts the plugin's own idle timeout (15 s), so that the client, not
  the server, closes an idle connection: a request is never sent on a connection the
  server is closing.
"""

from __future__ import annotations

import os

from portal import gunicorn_conf as browser_facing

# As the browser-facing server: as many workers, the same access log, the heartbeat in
# memory.
workers = browser_facing.workers
access_log_format = browser_facing.access_log_format
if hasattr(browser_facing, "worker_tmp_dir"):
    worker_tmp_dir = browser_facing.worker_tmp_dir

bind = "0.0.0.0:8001"  # noqa: S104 (inside a container, on the internal network only)
worker_class = "gthread"
threads = int(os.environ.get("GATEWAY_THREADS", "1"))
worker_connections = int(os.environ.get("GATEWAY_WORKER_CONNECTIONS", "8"))
keepalive = 75

"""Settings of the Celery worker processes the tests start (tests/worker_process.py).

The real settings (acks_late, reject_on_worker_lost, prefetch 1, the visibility timeout
from CELERY_VISIBILITY_TIMEOUT) with two test-only additions to the broker's transport
options, see `isolated_transport_options`. A test that needs more (the purge's slow
chunks) has a settings module of its own that starts from this one.
"""

import os

from portal.settings import *  # noqa: F403
from portal.settings import CELERY_BROKER_TRANSPORT_OPTIONS

KEY_PREFIX_ENV = "PORTAL_TEST_BROKER_KEY_PREFIX"


def isolated_transport_options(base: dict, key_prefix: str) -> dict:
    """`base` plus a private key space and a fast sweep of unacknowledged messages.

    - global_keyprefix: kombu keeps the unacknowledged messages of every queue in one
      hash (`unacked`) per Redis database. A worker with a visibility timeout of a few
      seconds would otherwise put back the in-flight messages of any other worker on the
      same Redis (another test run, a developer's `make run`). Under its own prefix a
      test's worker sees only its own messages.
    - unacked_restore_interval/throttle: kombu's Redis transport sweeps for messages past
      the visibility timeout once when the worker starts and then every interval x
      throttle seconds (10 x 10 by default, kombu/transport/redis.py). A sweep every
      second keeps the test short (a message whose worker was killed comes back as soon
      as its visibility timeout has passed); what is restored is still decided by the
      visibility timeout.
    - unacked_mutex_expire: each sweep holds a lock in Redis (`unacked_mutex`) that
      expires after 300 seconds by default. A worker killed during a sweep (the purge
      test's SIGKILL lands at a random moment, and the worker sweeps every second)
      leaves the lock behind, and the next worker cannot put the killed one's message
      back for five minutes: longer than the test waits. Five seconds is far longer than
      a sweep of a test's few messages takes.
    """
    return {
        **base,
        "global_keyprefix": key_prefix,
        "unacked_restore_interval": 1,
        "unacked_restore_throttle": 1,
        "unacked_mutex_expire": 5,
    }


CELERY_BROKER_TRANSPORT_OPTIONS = isolated_transport_options(
    CELERY_BROKER_TRANSPORT_OPTIONS, os.environ.get(KEY_PREFIX_ENV, "")
)

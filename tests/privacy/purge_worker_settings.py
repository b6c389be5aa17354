"""Settings of the worker processes started by test_purge_worker.py.

The real settings (acks_late, reject_on_worker_lost, prefetch 1, the visibility timeout
from CELERY_VISIBILITY_TIMEOUT), plus, for the test only:
- a private Redis key space (kombu's `global_keyprefix`): kombu keeps every queue's
  unacknowledged messages in one hash per Redis database, and a worker with a visibility
  timeout of seconds would otherwise put back other workers' in-flight messages;
- a restore sweep every second instead of kombu's default 100 s, so a message whose
  worker was killed comes back as soon as its visibility timeout has passed;
- a module that makes each purge chunk small and slow enough to be killed mid-run.
"""

import os

from portal.settings import *  # noqa: F403
from portal.settings import CELERY_BROKER_TRANSPORT_OPTIONS

KEY_PREFIX_ENV = "PORTAL_TEST_BROKER_KEY_PREFIX"


def isolated_transport_options(base: dict, key_prefix: str) -> dict:
    return {
        **base,
        "global_keyprefix": key_prefix,
        "unacked_restore_interval": 1,
        "unacked_restore_throttle": 1,
    }


CELERY_BROKER_TRANSPORT_OPTIONS = isolated_transport_options(
    CELERY_BROKER_TRANSPORT_OPTIONS, os.environ.get(KEY_PREFIX_ENV, "")
)
CELERY_IMPORTS = ("tests.privacy.purge_worker_hooks",)

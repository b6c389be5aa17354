"""Settings of the worker processes started by tests/helpers/purge_worker.py: the workers'
test settings (tests/worker_settings.py: a private Redis key space and a fast restore
sweep), plus a module that makes each purge chunk small and slow enough to be killed
mid-run.
"""

from tests.worker_settings import *  # noqa: F403

CELERY_IMPORTS = ("tests.helpers.purge_worker_hooks",)

"""The Celery application: configuration comes from Django settings (CELERY_*)."""

from __future__ import annotations

import os

from celery import Celery
from celery.signals import task_postrun, task_prerun

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "portal.settings")

app = Celery("portal")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()


@task_prerun.connect
@task_postrun.connect
def _close_old_connections(**kwargs) -> None:
    """Around each task, what Django does around each web request: close a database
    connection that is broken or older than CONN_MAX_AGE, keep the others.

    Celery's Django fixup would close every connection before and after each task
    instead (unless CELERY_DB_REUSE_MAX is set, see settings), so that each purge chunk
    would start a new PostgreSQL backend with cold caches (bench/README.md, "purge").
    """
    from django.db import close_old_connections

    close_old_connections()

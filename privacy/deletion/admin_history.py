"""Admin history about an erased object: who on staff did what and when stays, the
object's name goes (for a user or an email address, that name is the address)."""

from __future__ import annotations

from django.contrib.admin.models import LogEntry
from django.contrib.contenttypes.models import ContentType
from django.db import models


def admin_history_naming(content_type: ContentType) -> models.QuerySet:
    """The admin history entries about objects of this type that still name them."""
    return LogEntry.objects.filter(content_type=content_type).exclude(
        object_repr="", change_message=""
    )


def has_admin_history(content_type: ContentType) -> bool:
    """Whether the admin history names any object of this type (an index probe).

    Archived models are high-volume rows staff do not edit in the admin, so this is
    nearly always false and the chunk's statement leaves the history out: the extra
    UPDATE made PostgreSQL materialise the chunk's selection for two readers
    (bench/README.md, "purge: admin history"). An entry written after this probe and
    before the chunk commits is not seen, as it would not be by the UPDATE either.
    """
    return admin_history_naming(content_type).exists()


def forget_admin_history(model: type[models.Model], pks: list) -> None:
    """Admin history about an erased object keeps who on staff did what and when, and
    loses the object's name: for a user or an email address that name is the address."""
    if model._meta.auto_created or model is LogEntry:
        return
    content_type = ContentType.objects.get_for_model(model, for_concrete_model=False)
    admin_history_naming(content_type).filter(object_id__in=[str(pk) for pk in pks]).update(
        object_repr="", change_message=""
    )

"""Deletion requests and the audit trail in the admin: read-only for now.

Support changes a request only through privacy.actions (the support workflow with its
admin actions comes later); the admin never edits these rows directly.
"""

from __future__ import annotations

from django.contrib import admin

from privacy.models import AuditEvent, DeletionRequest


class ReadOnlyAdmin(admin.ModelAdmin):
    def has_add_permission(self, request, obj=None) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False


@admin.register(DeletionRequest)
class DeletionRequestAdmin(ReadOnlyAdmin):
    list_display = ["id", "scope", "origin", "status", "received_at", "due_at", "completed_at"]
    list_filter = ["status", "scope", "origin"]
    search_fields = ["=id", "=user_id"]
    date_hierarchy = "received_at"
    # The notice address is personal data: not shown in the list, and gone once sent.
    exclude = ["notice_email"]


@admin.register(AuditEvent)
class AuditEventAdmin(ReadOnlyAdmin):
    list_display = ["at", "action", "target", "actor_id"]
    list_filter = ["action"]
    search_fields = ["=target", "=actor_id"]
    date_hierarchy = "at"

"""What every page's layout needs from identity."""

from __future__ import annotations

from django.http import HttpRequest

from accounts.models import SecurityNotice


def security_notices(request: HttpRequest) -> dict:
    """`security_notices`: the signed-in person's unread notices of changes to how the
    account can be entered (the layout shows them until dismissed). No query unless
    there are some: the user row holds when the newest was written."""
    user = getattr(request, "user", None)
    if user is None or not user.is_authenticated or user.security_notice_at is None:
        return {"security_notices": ()}
    notices = list(SecurityNotice.objects.filter(user=user, dismissed_at__isnull=True)[:10])
    return {"security_notices": notices}

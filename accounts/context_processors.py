"""What every page's layout needs from identity."""

from __future__ import annotations

from django.http import HttpRequest

from accounts.models import SecurityNotice


def security_notices(request: HttpRequest) -> dict:
    """`security_notices`: the signed-in person's unread notices of changes to how the
    account can be entered (the layout shows them until dismissed), and
    `security_notice_asks`: whether one added a way in. No query unless there are
    some: the user row holds when the newest was written."""
    user = getattr(request, "user", None)
    if user is None or not user.is_authenticated or user.security_notice_at is None:
        return {"security_notices": (), "security_notice_asks": False}
    notices = list(SecurityNotice.objects.filter(user=user, dismissed_at__isnull=True)[:10])
    # "Was it you?" only when a way in was added; a removed copy only informs.
    asks = any(notice.adds_a_way_in for notice in notices)
    return {"security_notices": notices, "security_notice_asks": asks}

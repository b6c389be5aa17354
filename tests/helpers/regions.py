"""Regions for tests of "Keep my requests in <region>": the portal's own and another."""

from __future__ import annotations

from django.conf import settings

from portal.regions import REGIONS


def home() -> str:
    """The region the portal runs in (PORTAL_DATA_REGION)."""
    return settings.PORTAL_DATA_REGION


def abroad() -> str:
    """A region that is not the portal's: an endpoint there is an international transfer."""
    return next(code for code in REGIONS if code != settings.PORTAL_DATA_REGION)

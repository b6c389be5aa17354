"""Unique text to look for later (in every table, every mail, every export)."""

from __future__ import annotations

import uuid


def unique_marker(what: str) -> str:
    return f"{what}-{uuid.uuid4().hex}"

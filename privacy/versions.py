"""A published document kept in versions: the privacy policy (privacy/policy.py) and the
Terms of Service (privacy/terms.py).

A version is its date. Its text is a template, templates/privacy/<folder>/<version>.html,
which never changes once published: a change is a new file and a new entry at the end
of the document's VERSIONS (tests check both).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass


@dataclass(frozen=True)
class PublishedVersion:
    version: str  # the date it was published, ISO 8601
    changes: str  # what changed from the previous version, for the notice
    folder: str  # templates/privacy/<folder>/ holds the text of each version

    @property
    def date(self) -> dt.date:
        return dt.date.fromisoformat(self.version)

    @property
    def template(self) -> str:
        return f"privacy/{self.folder}/{self.version}.html"


def find(versions: tuple[PublishedVersion, ...], version: str) -> PublishedVersion | None:
    """The published version called `version`, or None."""
    return next((v for v in versions if v.version == version), None)

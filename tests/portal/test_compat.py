"""Private APIs behind one door: allauth's `internal` modules, the admin's private
helpers, django-ninja's URL hook and Django's request body cache are used by
portal/compat.py alone, so an upgrade that moves one of them is
fixed in that one file (tests included)."""

from __future__ import annotations

import ast
from pathlib import Path

from django.conf import settings

ROOT = Path(settings.BASE_DIR)
COMPAT = ROOT / "portal" / "compat.py"
# Where the portal's own Python lives (the virtualenv and var/ are not ours).
PACKAGES = (
    "accounts",
    "bench",
    "catalog",
    "gateway",
    "logging_prefs",
    "portal",
    "privacy",
    "tests",
)
# Private names of django-ninja and Django that the portal relies on.
PRIVATE_ATTRIBUTES = {"_get_obj_does_not_exist_redirect", "_get_urls", "_body"}


def private_uses(tree: ast.AST) -> list[str]:
    """Imports of allauth's `internal` modules or the admin's undocumented utils, and
    uses (or overrides) of the private names above, in one module."""
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module:
            names = [node.module + "." + alias.name for alias in node.names]
        elif isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.Attribute) and node.attr in PRIVATE_ATTRIBUTES:
            names = [node.attr]
        elif isinstance(node, ast.FunctionDef) and node.name in PRIVATE_ATTRIBUTES:
            names = [node.name]
        else:
            continue
        for name in names:
            parts = name.split(".")
            if (
                (parts[0] == "allauth" and "internal" in parts)
                or name.startswith("django.contrib.admin.utils")
                or name in PRIVATE_ATTRIBUTES
            ):
                found.append(f"line {node.lineno}: {name}")
    return found


def test_only_the_compat_module_imports_private_apis():
    offenders = {}
    for package in PACKAGES:
        for path in sorted((ROOT / package).rglob("*.py")):
            if path == COMPAT:
                continue
            uses = private_uses(ast.parse(path.read_text(), filename=str(path)))
            if uses:
                offenders[str(path.relative_to(ROOT))] = uses
    assert offenders == {}, "import these through portal/compat.py"


def test_the_check_finds_a_private_import():
    """The walk above is not vacuous: it sees each kind of private use."""
    source = (
        "from allauth.account.internal.flows.login import perform_login\n"
        "import allauth.core.internal.ratelimit\n"
        "from django.contrib.admin.utils import unquote\n"
        "admin._get_obj_does_not_exist_redirect(request, opts, object_id)\n"
        "class API(NinjaAPI):\n    def _get_urls(self):\n        return super()._get_urls()\n"
        "request._body = body\n"
    )
    assert len(private_uses(ast.parse(source))) == 7
    assert private_uses(ast.parse("from allauth.account.models import EmailAddress\n")) == []

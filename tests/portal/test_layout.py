"""The tree says where things are: each page is served by the app that owns what it shows,
URL modules are named for where they are included, the gateway API is one package, and
no two of the project's classes share a name (a reader who greps for one finds one)."""

from __future__ import annotations

import ast
import importlib
import re
from collections import defaultdict
from pathlib import Path
from types import ModuleType

import pytest
from django.conf import settings
from django.urls import URLResolver, get_resolver, resolve

ROOT = Path(__file__).resolve().parents[2]
APPS = ("accounts", "catalog", "logging_prefs", "privacy")
# Django finds a management command by this name, and a migration by its own.
CLASS_NAMES_DJANGO_REQUIRES = {"Command", "Migration"}


def _app_includes() -> list[tuple[str, str]]:
    """(prefix, module) of every include of one of the project's apps in portal.urls."""
    includes = []
    for pattern in get_resolver().url_patterns:
        if not isinstance(pattern, URLResolver):
            continue
        module = pattern.urlconf_name
        if isinstance(module, ModuleType) and module.__name__.split(".")[0] in APPS:
            includes.append((str(pattern.pattern), module.__name__))
    return includes


def test_every_app_url_module_is_named_for_where_it_is_included():
    includes = _app_includes()
    assert len(includes) >= 6
    for prefix, module in includes:
        expected = "account_urls" if prefix == "account/" else "public_urls"
        assert module.rsplit(".", 1)[1] == expected, (prefix, module)


def test_each_account_include_names_every_page_it_brings():
    source = (ROOT / "portal" / "urls.py").read_text().splitlines()
    checked = 0
    for number, line in enumerate(source):
        match = re.search(r'path\("account/", include\("([\w.]+)"\)\)', line)
        if not match:
            continue
        comment = []
        for above in reversed(source[:number]):
            if not above.strip().startswith("#"):
                break
            comment.append(above)
        said = " ".join(comment)
        assert said, f"no comment above the include of {match[1]}"
        for pattern in importlib.import_module(match[1]).urlpatterns:
            first = str(pattern.pattern).split("/")[0]
            page = f"/account/{first}/" if first else "/account/"
            assert page in said, f"{match[1]} brings {page}, its comment does not say so"
        checked += 1
    assert checked == 3


@pytest.mark.parametrize(
    ("path", "app"),
    [
        ("/models/", "catalog"),
        ("/models/openai/gpt-4o/", "catalog"),
        ("/account/keys/", "logging_prefs"),
        ("/account/data/", "privacy"),
        ("/account/wallets/", "accounts"),
        ("/legal/privacy/", "privacy"),
    ],
)
def test_each_page_is_served_by_the_app_that_owns_what_it_shows(path, app):
    assert resolve(path).func.__module__.split(".")[0] == app


def _imported_modules(path: Path) -> set[str]:
    modules = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.module:
            modules.add(node.module)
        elif isinstance(node, ast.Import):
            modules.update(alias.name for alias in node.names)
    return modules


def test_the_gateway_api_is_the_gateway_packages_alone():
    """django-ninja, the API's framework, is imported in gateway/ (and behind the door
    for private APIs, portal/compat.py) only; the URLconf and the settings take the API
    and its fast path from there."""
    outside = []
    for package in (*APPS, "portal", "bench"):
        for path in sorted((ROOT / package).rglob("*.py")):
            if path == ROOT / "portal" / "compat.py":
                continue
            if any(module.split(".")[0] == "ninja" for module in _imported_modules(path)):
                outside.append(str(path.relative_to(ROOT)))
    assert outside == []
    assert "gateway.api" in _imported_modules(ROOT / "portal" / "urls.py")
    assert "gateway.fast_path.GatewayFastPathMiddleware" in settings.MIDDLEWARE


def test_no_two_of_the_projects_classes_share_a_name():
    defined = defaultdict(list)
    for app in (*APPS, "gateway", "portal", "bench"):
        for path in sorted((ROOT / app).rglob("*.py")):
            for node in ast.parse(path.read_text()).body:
                if isinstance(node, ast.ClassDef):
                    defined[node.name].append(str(path.relative_to(ROOT)))
    shared = {
        name: paths
        for name, paths in defined.items()
        if len(paths) > 1 and name not in CLASS_NAMES_DJANGO_REQUIRES
    }
    assert not shared

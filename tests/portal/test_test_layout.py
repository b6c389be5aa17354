"""The tests build data one way and share helpers one way: conftest.py files hold only
fixtures and pytest hooks, and a test package imports nothing of another test package
and no test_*.py module. What modules share lives in the shared modules: tests/factories/
(data), tests/helpers/ (steps and clients) and the top-level tests/*.py."""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

TESTS = Path(__file__).resolve().parents[1]
# Packages under tests/ whose modules any test may import.
SHARED_PACKAGES = {"factories", "helpers"}


def _modules(tests: Path) -> Iterator[tuple[Path, ast.Module]]:
    for path in sorted(tests.rglob("*.py")):
        yield path, ast.parse(path.read_text(), filename=str(path))


def _package(tests: Path, path: Path) -> str | None:
    """The test package `path` belongs to; None for a shared module."""
    parts = path.relative_to(tests).parts
    if len(parts) == 1 or parts[0] in SHARED_PACKAGES:
        return None
    return parts[0]


def _file_of(tests: Path, module: str) -> Path | None:
    """The file under tests/ of the dotted module name, if it is one."""
    parts = module.split(".")
    if parts[0] != tests.name:
        return None
    base = tests.joinpath(*parts[1:])
    for candidate in (base.with_suffix(".py"), base / "__init__.py"):
        if candidate.is_file():
            return candidate
    return None


def _imported_files(tests: Path, path: Path, tree: ast.Module) -> Iterator[tuple[int, Path]]:
    """(line, file) of every module of the tests that `path` imports, anywhere in it:
    `from tests.a import b` imports tests/a/b.py when that is a module, else tests/a."""
    here = path.relative_to(tests.parent).with_suffix("").parts
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                package = here[: len(here) - node.level]
                base = ".".join(package + ((node.module,) if node.module else ()))
            else:
                base = node.module or ""
            names = []
            for alias in node.names:
                inner = f"{base}.{alias.name}"
                names.append(inner if _file_of(tests, inner) else base)
        else:
            continue
        for found in dict.fromkeys(_file_of(tests, name) for name in names):
            if found is not None and found != path:
                yield node.lineno, found


def _where(tests: Path, path: Path, line: int | None = None) -> str:
    where = str(path.relative_to(tests.parent))
    return f"{where}:{line}" if line else where


def conftest_helpers(tests: Path) -> list[str]:
    """Public functions and classes of conftest.py files that are neither fixtures nor
    pytest hooks (helpers belong in a shared module)."""
    found = []
    for path, tree in _modules(tests):
        if path.name != "conftest.py":
            continue
        for node in tree.body:
            if not isinstance(node, (ast.FunctionDef, ast.ClassDef)):
                continue
            if node.name.startswith("_") or node.name.startswith("pytest_"):
                continue
            decorators = [ast.unparse(decorator) for decorator in node.decorator_list]
            if isinstance(node, ast.FunctionDef) and any("fixture" in d for d in decorators):
                continue
            found.append(f"{_where(tests, path, node.lineno)} defines {node.name}")
    return found


def imports_of_conftests(tests: Path) -> list[str]:
    """Imports of a conftest.py module: pytest gives its fixtures to the tests below it;
    nothing else should need it."""
    return [
        f"{_where(tests, path, line)} imports {_where(tests, target)}"
        for path, tree in _modules(tests)
        for line, target in _imported_files(tests, path, tree)
        if target.name == "conftest.py"
    ]


def imports_of_test_modules(tests: Path) -> list[str]:
    return [
        f"{_where(tests, path, line)} imports {_where(tests, target)}"
        for path, tree in _modules(tests)
        for line, target in _imported_files(tests, path, tree)
        if target.name.startswith("test_")
    ]


def imports_across_test_packages(tests: Path) -> list[str]:
    """Imports of another test package's module, or of any test package's module by a
    shared one."""
    found = []
    for path, tree in _modules(tests):
        importer = _package(tests, path)
        for line, target in _imported_files(tests, path, tree):
            imported = _package(tests, target)
            if imported is not None and imported != importer:
                found.append(f"{_where(tests, path, line)} imports {_where(tests, target)}")
    return found


CHECKS = (
    conftest_helpers,
    imports_of_conftests,
    imports_of_test_modules,
    imports_across_test_packages,
)


def test_conftest_files_hold_only_fixtures_and_hooks():
    assert conftest_helpers(TESTS) == []
    assert imports_of_conftests(TESTS) == []


def test_no_module_imports_a_test_module():
    assert imports_of_test_modules(TESTS) == []


def test_no_test_package_imports_another_ones_modules():
    assert imports_across_test_packages(TESTS) == []


def test_the_checks_see_every_import_they_forbid(tmp_path):
    """Each check finds what the tree looked like before tests/factories/ and
    tests/helpers/ (issue 14, item 7), in every import form."""
    tests = tmp_path / "tests"
    files = {
        "__init__.py": "",
        "conftest.py": "import pytest\n\ndef require(ok): ...\n\n@pytest.fixture\ndef a(): ...\n",
        "wallets.py": "",
        "factories/__init__.py": "",
        "factories/accounts.py": "from tests.privacy.conftest import make_user\n",
        "accounts/__init__.py": "",
        "accounts/conftest.py": "LOGIN_URL = '/accounts/login/'\n\nclass Key: ...\n",
        "accounts/helpers.py": "",
        "accounts/test_wallets.py": (
            "from tests.conftest import require\n"
            "from tests.wallets import *\n"
            "from tests.accounts import helpers\n"
            "def test_x():\n"
            "    from tests.privacy.test_pages import age\n"
        ),
        "privacy/__init__.py": "",
        "privacy/conftest.py": "def make_user(): ...\n",
        "privacy/admin_helpers.py": "from .conftest import make_user\n",
        "privacy/test_pages.py": "import tests.accounts.test_wallets\n",
        "privacy/test_admin.py": "from tests.privacy import admin_helpers, test_pages\n",
    }
    for name, text in files.items():
        (tests / name).parent.mkdir(parents=True, exist_ok=True)
        (tests / name).write_text(text)

    assert conftest_helpers(tests) == [
        "tests/accounts/conftest.py:3 defines Key",
        "tests/conftest.py:3 defines require",
        "tests/privacy/conftest.py:1 defines make_user",
    ]
    assert imports_of_conftests(tests) == [
        "tests/accounts/test_wallets.py:1 imports tests/conftest.py",
        "tests/factories/accounts.py:1 imports tests/privacy/conftest.py",
        "tests/privacy/admin_helpers.py:1 imports tests/privacy/conftest.py",
    ]
    assert imports_of_test_modules(tests) == [
        "tests/accounts/test_wallets.py:5 imports tests/privacy/test_pages.py",
        "tests/privacy/test_admin.py:1 imports tests/privacy/test_pages.py",
        "tests/privacy/test_pages.py:1 imports tests/accounts/test_wallets.py",
    ]
    assert imports_across_test_packages(tests) == [
        "tests/accounts/test_wallets.py:5 imports tests/privacy/test_pages.py",
        "tests/factories/accounts.py:1 imports tests/privacy/conftest.py",
        "tests/privacy/test_pages.py:1 imports tests/accounts/test_wallets.py",
    ]

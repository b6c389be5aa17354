"""Production mode (DEBUG off) and what every page promises: CSP, custom error pages.

Settings are read from the environment at import, so production mode is tested in
subprocesses running manage.py with a production environment.
"""

from __future__ import annotations

import re
import secrets
from pathlib import Path

import pytest
from django.conf import settings
from django.test import RequestFactory
from django.urls import NoReverseMatch, get_resolver, reverse

from portal import views
from tests.helpers.production import manage, production_env

BASE_DIR = Path(settings.BASE_DIR)
TEMPLATES_DIR = BASE_DIR / "templates"


def test_production_settings_pass_check_deploy_with_zero_issues():
    result = manage("check", "--deploy", "--fail-level", "WARNING", env=production_env())
    output = result.stdout + result.stderr
    assert result.returncode == 0, output
    # One check is silenced on purpose, and only that one: User.email, the sign-in name,
    # is not unique, since ownership of an address is its verified EmailAddress.
    assert "System check identified no issues (1 silenced)." in output


def test_the_one_silenced_check_is_the_non_unique_sign_in_address():
    from django.conf import settings

    assert settings.SILENCED_SYSTEM_CHECKS == ["auth.W004"]


def test_check_deploy_fails_on_a_weak_secret_key():
    # The check above can fail: a short key is a deployment warning, and warnings fail.
    result = manage(
        "check", "--deploy", "--fail-level", "WARNING", env=production_env(SECRET_KEY="short")
    )
    assert result.returncode != 0
    assert "security.W009" in result.stdout + result.stderr


@pytest.mark.parametrize(
    "overrides",
    [
        pytest.param({"SECRET_KEY": None}, id="secret-key-unset"),
        pytest.param({"SECRET_KEY": ""}, id="secret-key-empty"),
        pytest.param({"SECRET_KEY": None, "DEBUG": None}, id="debug-unset-means-production"),
    ],
)
def test_production_mode_without_secret_key_refuses_to_start(overrides):
    result = manage("check", env=production_env(**overrides))
    assert result.returncode != 0
    assert "SECRET_KEY must be set when DEBUG is off (production mode)" in result.stderr


@pytest.mark.parametrize("token", ["short", "x" * 31], ids=["5 characters", "31 characters"])
def test_production_refuses_to_start_with_a_short_gateway_token(token):
    result = manage("check", env=production_env(PORTAL_GATEWAY_TOKEN=token))
    assert result.returncode != 0
    assert "PORTAL_GATEWAY_TOKEN must be at least 32 characters" in result.stderr
    assert token not in result.stderr  # a secret, even a bad one, is not printed


@pytest.mark.parametrize(
    "overrides",
    [
        pytest.param({"PORTAL_GATEWAY_TOKEN": "x" * 32}, id="32 characters"),
        pytest.param({"PORTAL_GATEWAY_TOKEN": None}, id="unset: the gateway API is closed"),
        pytest.param({"PORTAL_GATEWAY_TOKEN": "short", "DEBUG": "1"}, id="short in development"),
    ],
)
def test_a_long_enough_gateway_token_or_none_starts(overrides):
    result = manage("check", env=production_env(**overrides))
    assert result.returncode == 0, result.stderr


def test_production_mode_redirects_to_https_except_the_health_probe():
    # The load balancer probes /healthz over plain HTTP; everything else goes to HTTPS.
    script = (
        "from django.test import Client\n"
        "c = Client(HTTP_HOST='portal.example.com')\n"
        "r = c.get('/')\n"
        "print('home', r.status_code, r.get('Location'))\n"
        "r = c.get('/healthz')\n"
        "print('healthz', r.status_code)\n"
    )
    result = manage("shell", "-c", script, env=production_env())
    assert result.returncode == 0, result.stderr
    assert "home 301 https://portal.example.com/" in result.stdout
    healthz_status = re.search(r"^healthz (\d+)$", result.stdout, re.M)
    assert healthz_status and healthz_status.group(1) in {"200", "503"}, result.stdout


def test_production_serves_the_gateway_openapi_document_only_with_the_token():
    token = secrets.token_urlsafe(32)
    script = (
        "from django.test import Client\n"
        "c = Client(HTTP_HOST='portal.example.com')\n"
        "url = '/internal/v1/openapi.json'\n"
        "print('anonymous', c.get(url, secure=True).status_code)\n"
        "print('wrong', c.get(url, secure=True, HTTP_AUTHORIZATION='Bearer x').status_code)\n"
        f"print('gateway', c.get(url, secure=True, HTTP_AUTHORIZATION='Bearer {token}')"
        ".status_code)\n"
    )
    result = manage("shell", "-c", script, env=production_env(PORTAL_GATEWAY_TOKEN=token))
    assert result.returncode == 0, result.stderr
    answers = dict(re.findall(r"^(anonymous|wrong|gateway) (\d+)$", result.stdout, re.M))
    assert answers == {"anonymous": "401", "wrong": "401", "gateway": "200"}, result.stdout


# --- Content-Security-Policy -------------------------------------------------


def csp_directives(response) -> dict[str, list[str]]:
    header = response.headers.get("Content-Security-Policy")
    assert header, f"{response.request['PATH_INFO']} has no Content-Security-Policy header"
    directives = {}
    for part in header.split(";"):
        name, *values = part.split()
        directives[name] = values
    return directives


def assert_strict_csp(response) -> None:
    directives = csp_directives(response)
    path = response.request["PATH_INFO"]
    assert directives.get("script-src") == ["'self'"], (path, directives)
    assert "'unsafe-inline'" not in response.headers["Content-Security-Policy"], path
    assert "'unsafe-eval'" not in response.headers["Content-Security-Policy"], path


def pages_without_arguments() -> list[str]:
    """Every named URL of the project that takes no argument (allauth's pages included)."""
    paths = set()
    for name in get_resolver().reverse_dict:
        if not isinstance(name, str):
            continue
        try:
            paths.add(reverse(name))
        except NoReverseMatch:
            continue
    paths.add(reverse("admin:index"))
    return sorted(paths)


def test_pages_list_covers_the_main_pages():
    pages = pages_without_arguments()
    for path in ["/", "/healthz", "/legal/privacy/", "/accounts/login/", "/accounts/signup/"]:
        assert path in pages


@pytest.mark.django_db
def test_every_page_carries_a_csp_with_script_src_self_and_no_unsafe_inline(client):
    from tests.factories.accounts import UserFactory

    pages = pages_without_arguments()
    for path in pages:
        assert_strict_csp(client.get(path))

    user = UserFactory(email="csp@example.com")
    client.force_login(user)
    for path in pages:
        assert_strict_csp(client.get(path))


def test_no_template_has_an_inline_script():
    """With script-src 'self' an inline script would be blocked: every script is a file.

    A data block (<script type="application/json">) is not executed and is allowed.
    """
    script_tag = re.compile(r"<script\b([^>]*)>", re.IGNORECASE)
    json_type = re.compile(r"""\btype\s*=\s*["']?application/json["']?""", re.IGNORECASE)
    src = re.compile(r"\bsrc\s*=", re.IGNORECASE)
    templates = sorted(TEMPLATES_DIR.rglob("*.html"))
    assert templates, f"no templates found in {TEMPLATES_DIR}"
    offenders = []
    for template in templates:
        text = template.read_text()
        for match in script_tag.finditer(text):
            attributes = match.group(1)
            if src.search(attributes) or json_type.search(attributes):
                continue
            line = text.count("\n", 0, match.start()) + 1
            offenders.append(f"{template.relative_to(BASE_DIR)}:{line}: {match.group(0)}")
    assert offenders == []


# --- Error pages -------------------------------------------------------------


@pytest.mark.django_db
def test_unknown_address_renders_the_custom_404_page(client):
    response = client.get("/no-such-page/")
    assert response.status_code == 404
    assert [t.name for t in response.templates][0] == "404.html"
    assert b"Page not found" in response.content
    assert b'href="/"' in response.content
    assert_strict_csp(response)


@pytest.mark.django_db
def test_unhandled_error_renders_the_custom_500_page(client, monkeypatch):
    def broken_home(request):
        raise RuntimeError("boom")

    # No test-only URL exists: the home page's URL pattern is pointed at a failing view.
    (home,) = [p for p in get_resolver().url_patterns if getattr(p, "name", None) == "home"]
    monkeypatch.setattr(home, "callback", broken_home)
    client.raise_request_exception = False

    response = client.get("/")

    assert response.status_code == 500
    assert b"Something went wrong" in response.content
    assert b"boom" not in response.content
    assert_strict_csp(response)


def test_server_error_view_renders_the_500_template_without_a_request_context():
    # The 500 page is rendered without the request: it must not need the database or the
    # session, which may be what failed.
    request = RequestFactory().get("/")
    response = views.server_error(request)
    assert response.status_code == 500
    assert b"Something went wrong" in response.content
    assert b"/static/css/portal.css" in response.content

"""Portal settings, read from the environment.

Every variable is documented in README.md ("Configuration"). With nothing set, the
portal runs on a bare machine: a private PostgreSQL server under var/ (portal/devdb.py),
a private Valkey server as cache and broker under var/ (portal/devredis.py), mail to the
console. Production mode is DEBUG off; it refuses to start without SECRET_KEY.
"""

from __future__ import annotations

import re
from pathlib import Path
from urllib.parse import urlsplit

import environ
from django.core.exceptions import ImproperlyConfigured
from django.utils.csp import CSP

from accounts.schedules import BEAT_SCHEDULE as ACCOUNTS_BEAT_SCHEDULE
from logging_prefs.schedules import BEAT_SCHEDULE as LOGGING_BEAT_SCHEDULE
from portal import devdb, devredis
from privacy.schedules import BEAT_SCHEDULE as PRIVACY_BEAT_SCHEDULE
from support.schedules import BEAT_SCHEDULE as SUPPORT_BEAT_SCHEDULE

BASE_DIR = Path(__file__).resolve().parent.parent
VAR_DIR = BASE_DIR / "var"

env = environ.Env()

# --- Core --------------------------------------------------------------------
# https://docs.djangoproject.com/en/6.1/ref/settings/#debug
DEBUG = env.bool("DEBUG", default=False)

if DEBUG:
    SECRET_KEY = env.str("SECRET_KEY", default="dev-only-insecure-key-never-use-in-production")
else:
    SECRET_KEY = env.str("SECRET_KEY", default="")
    if not SECRET_KEY:
        raise ImproperlyConfigured(
            "SECRET_KEY must be set when DEBUG is off (production mode). "
            "Set DEBUG=1 for local development."
        )

ALLOWED_HOSTS = env.list(
    "ALLOWED_HOSTS", default=["localhost", "127.0.0.1", "[::1]"] if DEBUG else []
)
CSRF_TRUSTED_ORIGINS = env.list("CSRF_TRUSTED_ORIGINS", default=[])

INSTALLED_APPS = [
    "whitenoise.runserver_nostatic",
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "django.contrib.humanize",
    "allauth",
    "allauth.account",
    "allauth.mfa",
    "allauth.usersessions",
    "accounts",
    "privacy",
    "logging_prefs",
    "catalog",
    "support",
]

# The portal.middleware classes are Django's own, skipped for the gateway API, which
# has no session, user or messages (portal/middleware.py).
MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "django.middleware.csp.ContentSecurityPolicyMiddleware",
    # Inside the CSP middleware, so the policy it widens is the one sent: only for a
    # visitor who accepted the configured analytics (privacy/analytics.py).
    "privacy.analytics.AnalyticsConsentMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "portal.middleware.SessionMiddleware",
    "portal.middleware.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "portal.middleware.AuthenticationMiddleware",
    "portal.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    # The gateway's hot path: after everything that shapes a gateway answer, before
    # what only signed-in browser sessions need (gateway/fast_path.py).
    "gateway.fast_path.GatewayFastPathMiddleware",
    # What answers further in (views, CSRF failures, error pages, allauth) passes
    # through it; the gateway's fast path answers before it and never meets it.
    "portal.middleware.NoStoreMiddleware",
    "allauth.account.middleware.AccountMiddleware",
    "accounts.middleware.ThrottledUserSessionsMiddleware",
    "accounts.middleware.StaffSecondFactorMiddleware",
]

ROOT_URLCONF = "portal.urls"
WSGI_APPLICATION = "portal.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "django.template.context_processors.csp",
                "accounts.context_processors.security_notices",
                "privacy.context_processors.policy_notice",
                "privacy.context_processors.cookie_notice",
                "privacy.context_processors.terms_notice",
                "portal.contact.contact",
            ],
        },
    },
]

# --- Database ----------------------------------------------------------------
# https://django-environ.readthedocs.io/en/latest/types.html#environ-env-db-url
# PostgreSQL only. Without DATABASE_URL: the private server under var/postgres/ that
# `make run` and `make test` start (portal/devdb.py).
DATABASES = {"default": env.db("DATABASE_URL", default=devdb.database_url())}
if DATABASES["default"]["ENGINE"] != "django.db.backends.postgresql":
    raise ImproperlyConfigured("DATABASE_URL must name a PostgreSQL database (postgres://…).")
DATABASES["default"]["ATOMIC_REQUESTS"] = False
DATABASES["default"]["CONN_MAX_AGE"] = env.int("CONN_MAX_AGE", default=60)
DATABASES["default"]["CONN_HEALTH_CHECKS"] = True
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# --- Redis: cache and broker -------------------------------------------------
# https://docs.djangoproject.com/en/6.1/topics/cache/#redis
# Redis only (or Valkey, its open-source continuation). Without REDIS_URL: the private
# Valkey server under var/redis/ that `make run` and `make test` start (portal/devredis.py).
REDIS_URL = env.str("REDIS_URL", default=devredis.redis_url())
CACHES = {
    "default": {
        "BACKEND": "django.core.cache.backends.redis.RedisCache",
        "LOCATION": REDIS_URL,
        "KEY_PREFIX": env.str("CACHE_KEY_PREFIX", default="portal"),
    }
}

# --- Celery ------------------------------------------------------------------
# https://docs.celeryq.dev/en/stable/userguide/configuration.html
# The longest task (a purge chunk, an export) runs for minutes, never an hour: a
# message unacknowledged for longer than this is redelivered to another worker.
CELERY_VISIBILITY_TIMEOUT = env.int("CELERY_VISIBILITY_TIMEOUT", default=60 * 60 * 2)
# Every socket operation on the broker is bounded. A Redis that is stopped refuses the
# connection and a publish fails within a second (Celery's publish retry policy, left at
# its default of 3 quick retries); but a Redis that accepts the connection and never
# answers (hung, mid-failover, a dropped NAT or firewall entry) would otherwise hold a
# publish forever, and with it the web request that publishes on commit (an account
# deletion: the request is recorded, and the sweeper enqueues it later). With these a
# publish to a hung broker fails within two attempts of the timeout (about 4 s); kombu
# recommends socket_timeout for exactly this. Well above Redis's own answer times and
# above kombu's BRPOP timeout (1 s), so a healthy broker never trips them.
CELERY_BROKER_SOCKET_TIMEOUT = env.float("CELERY_BROKER_SOCKET_TIMEOUT", default=2.0)
CELERY_BROKER_URL = devredis.broker_url(REDIS_URL)
CELERY_BROKER_TRANSPORT_OPTIONS = {
    "visibility_timeout": CELERY_VISIBILITY_TIMEOUT,
    "socket_connect_timeout": CELERY_BROKER_SOCKET_TIMEOUT,
    "socket_timeout": CELERY_BROKER_SOCKET_TIMEOUT,
}
# Lose no task when a worker dies: acknowledge after the task ran, put the message
# back when the worker process is killed, and hold one message per process at a time.
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TASK_IGNORE_RESULT = True
# Celery's Django fixup closes every database connection around every task unless this
# is set, and then only around every this-many tasks; portal/celery.py closes the
# broken and the obsolete ones (CONN_MAX_AGE) around each task instead, as Django does
# around each request.
CELERY_DB_REUSE_MAX = env.int("CELERY_DB_REUSE_MAX", default=1000)
CELERY_RESULT_BACKEND = None
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
CELERY_TASK_ALWAYS_EAGER = False
CELERY_TIMEZONE = "UTC"
# Each app declares its periodic tasks beside its code (schedules.py).
CELERY_BEAT_SCHEDULE = {
    **ACCOUNTS_BEAT_SCHEDULE,
    **LOGGING_BEAT_SCHEDULE,
    **PRIVACY_BEAT_SCHEDULE,
    **SUPPORT_BEAT_SCHEDULE,
}
CELERY_BEAT_SCHEDULE_FILENAME = str(VAR_DIR / "celerybeat-schedule")

# --- Authentication ----------------------------------------------------------
# https://docs.allauth.org/en/latest/account/configuration.html
AUTH_USER_MODEL = "accounts.User"
AUTHENTICATION_BACKENDS = [
    "django.contrib.auth.backends.ModelBackend",
    "allauth.account.auth_backends.AuthenticationBackend",
]
PASSWORD_HASHERS = [
    "django.contrib.auth.hashers.Argon2PasswordHasher",
    "django.contrib.auth.hashers.PBKDF2PasswordHasher",
]
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
LOGIN_URL = "account_login"
LOGIN_REDIRECT_URL = "account_home"

ACCOUNT_ADAPTER = "accounts.adapter.AccountAdapter"
ACCOUNT_USER_MODEL_USERNAME_FIELD = None
ACCOUNT_USER_DISPLAY = "accounts.adapter.user_display"
ACCOUNT_LOGIN_METHODS = {"email"}
ACCOUNT_SIGNUP_FIELDS = ["email*", "password1*", "password2*"]
ACCOUNT_SIGNUP_FORM_CLASS = "accounts.forms.SignupForm"
# Whoever proves they control an address owns it (accounts/address_forms.py): signing
# up with an address no account verified makes a new account, and a reset goes only to
# the account that verified the address.
ACCOUNT_FORMS = {
    "signup": "accounts.address_forms.OwnedAddressSignupForm",
    "reset_password": "accounts.address_forms.OwnedAddressResetPasswordForm",
}
# Confirmation keys as rows (not signed tokens): an unverified address is forgotten
# when its newest link expires, which only a stored sending time tells.
ACCOUNT_EMAIL_CONFIRMATION_HMAC = False
ACCOUNT_EMAIL_VERIFICATION = "mandatory"
ACCOUNT_CONFIRM_EMAIL_ON_GET = False
ACCOUNT_EMAIL_CONFIRMATION_EXPIRE_DAYS = 3
ACCOUNT_LOGIN_ON_EMAIL_CONFIRMATION = False
ACCOUNT_UNIQUE_EMAIL = True
ACCOUNT_PREVENT_ENUMERATION = True
ACCOUNT_EMAIL_UNKNOWN_ACCOUNTS = True
ACCOUNT_REAUTHENTICATION_REQUIRED = True
ACCOUNT_REAUTHENTICATION_TIMEOUT = 300
ACCOUNT_LOGOUT_ON_PASSWORD_CHANGE = False
ACCOUNT_EMAIL_NOTIFICATIONS = True
ACCOUNT_SESSION_REMEMBER = None
ACCOUNT_EMAIL_SUBJECT_PREFIX = "[Portal] "
ACCOUNT_LOGOUT_REDIRECT_URL = "/"
# allauth's defaults, written out so the limits are visible in one place. They are
# counted in the cache above: Redis in production.
ACCOUNT_RATE_LIMITS = {
    "change_password": "5/m/user",
    "manage_email": "10/m/user",
    "reset_password": "20/m/ip,5/m/key",
    "reauthenticate": "10/m/user",
    "reset_password_from_key": "20/m/ip",
    "signup": "20/m/ip",
    "login": "30/m/ip",
    "login_failed": "10/m/ip,5/5m/key",
    # allauth counts confirmation mails per address alone: another account that holds
    # the address could then keep its owner's own link from being sent, by asking for
    # one every 3 minutes. The portal counts them per account and address instead
    # (accounts/adapter.py), at allauth's rate.
    "confirm_email": None,
    "confirm_email_per_account": "1/3m/key",
    # Ours (accounts/wallet_views.py): each wallet challenge stores a nonce in a session,
    # a database row for a visitor, so a visitor cannot mint them without limit.
    "wallet_challenge": "60/m/ip",
    # Ours (support/views.py): every ticket mails a confirmation to the address given, so
    # neither one visitor nor one address may file them without limit.
    "contact": "10/h/ip",
    "contact_address": "3/h/key",
}
USERSESSIONS_TRACK_ACTIVITY = True
# User.email (the USERNAME_FIELD) is not unique on purpose: several accounts may hold
# an address none of them verified, and ownership is the verified EmailAddress, unique
# in the database (accounts/models.py). UserManager.get_by_natural_key resolves it.
SILENCED_SYSTEM_CHECKS = ["auth.W004"]

# Two-factor sign-in: https://docs.allauth.org/en/latest/mfa/configuration.html
# An authenticator app (TOTP) with recovery codes, and passkeys (WebAuthn), on the
# account hub's Security page; a passkey with "Passwordless" also signs in on its own.
# Browsers offer passkeys only over https or on http://localhost (not 127.0.0.1).
MFA_ADAPTER = "accounts.adapter.MFAAdapter"
MFA_SUPPORTED_TYPES = ["totp", "recovery_codes", "webauthn"]
MFA_PASSKEY_LOGIN_ENABLED = True
MFA_TOTP_ISSUER = "Portal"
MFA_FORMS = {
    "add_webauthn": "accounts.mfa_forms.AddWebAuthnForm",
    "authenticate_webauthn": "accounts.mfa_forms.AuthenticateWebAuthnForm",
    "login_webauthn": "accounts.mfa_forms.LoginWebAuthnForm",
    "reauthenticate_webauthn": "accounts.mfa_forms.ReauthenticateWebAuthnForm",
}
# allauth's default, written out: a code is good for its own 30 s step only, and once.
MFA_TOTP_TOLERANCE = 0
# Staff open no admin page until they have a second factor and have used it in the
# session (accounts/middleware.py). Off only for a deployment that enforces it elsewhere.
PORTAL_STAFF_REQUIRE_MFA = env.bool("PORTAL_STAFF_REQUIRE_MFA", default=True)

SESSION_ENGINE = "django.contrib.sessions.backends.cached_db"
SESSION_COOKIE_HTTPONLY = True
SESSION_COOKIE_SAMESITE = "Lax"
CSRF_COOKIE_HTTPONLY = True
CSRF_COOKIE_SAMESITE = "Lax"
CSRF_FAILURE_VIEW = "portal.views.csrf_failure"

# --- Email -------------------------------------------------------------------
# https://django-environ.readthedocs.io/en/latest/types.html#environ-env-email-url
# https://docs.djangoproject.com/en/6.1/topics/email/ (MAILERS replaces EMAIL_* in 6.1)
# Development prints mail to the console; production defaults to the local MTA
# (Django's own default), never to the console, where mail would be lost.
_email = env.email_url("EMAIL_URL", default="consolemail://" if DEBUG else "smtp://localhost:25")
_email_backend = _email["EMAIL_BACKEND"]
_email_options: dict = {}
if _email_backend.endswith("smtp.EmailBackend"):
    _email_options = {
        "host": _email.get("EMAIL_HOST") or "localhost",
        "port": _email.get("EMAIL_PORT") or 25,
        "username": _email.get("EMAIL_HOST_USER") or "",
        "password": _email.get("EMAIL_HOST_PASSWORD") or "",
        "use_tls": bool(_email.get("EMAIL_USE_TLS")),
        "use_ssl": bool(_email.get("EMAIL_USE_SSL")),
        # A mail server that stops answering must not hold a request or a worker forever.
        "timeout": env.int("EMAIL_TIMEOUT", default=10),
    }
elif _email_backend.endswith("filebased.EmailBackend"):
    _email_options = {"file_path": _email.get("EMAIL_FILE_PATH")}
MAILERS = {"default": {"BACKEND": _email_backend, "OPTIONS": _email_options}}
DEFAULT_FROM_EMAIL = env.str("DEFAULT_FROM_EMAIL", default="Portal <no-reply@portal.localhost>")
SERVER_EMAIL = DEFAULT_FROM_EMAIL
# How people reach support (portal/contact.py): the /contact/ page, the footer, the
# policy's own words, and the Reply-To of every mail the portal sends (the sender is a
# no-reply address). No Discord link is shown while PORTAL_DISCORD_URL is unset.
PORTAL_SUPPORT_EMAIL = env.str("PORTAL_SUPPORT_EMAIL", default="support@portal.localhost")
PORTAL_DISCORD_URL = env.str("PORTAL_DISCORD_URL", default="")
# Checked by hand: Django's validators translate their messages, which cannot happen
# before the apps are loaded.
_discord = urlsplit(PORTAL_DISCORD_URL)
if not re.fullmatch(r"[^@\s]+@[^@\s]+\.[^@\s]+", PORTAL_SUPPORT_EMAIL) or (
    PORTAL_DISCORD_URL
    and (
        _discord.scheme != "https" or not _discord.hostname or re.search(r"\s", PORTAL_DISCORD_URL)
    )
):
    raise ImproperlyConfigured(
        "PORTAL_SUPPORT_EMAIL must be an email address and PORTAL_DISCORD_URL, when set, "
        f"an https:// URL (they are {PORTAL_SUPPORT_EMAIL!r} and {PORTAL_DISCORD_URL!r})."
    )

# --- Static files ------------------------------------------------------------
# https://whitenoise.readthedocs.io/en/stable/django.html
STATIC_URL = "/static/"
STATIC_ROOT = BASE_DIR / "staticfiles"
STATICFILES_DIRS = [BASE_DIR / "static"]
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {
        "BACKEND": (
            "django.contrib.staticfiles.storage.StaticFilesStorage"
            if DEBUG or env.bool("PORTAL_PLAIN_STATIC", default=False)
            else "whitenoise.storage.CompressedManifestStaticFilesStorage"
        )
    },
}
WHITENOISE_USE_FINDERS = DEBUG

# --- Internationalisation ----------------------------------------------------
LANGUAGE_CODE = "en"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

# --- Security ----------------------------------------------------------------
# https://docs.djangoproject.com/en/6.1/ref/csp/
# No inline script and no CDN anywhere: every script and style is a static file.
SECURE_CSP = {
    "default-src": [CSP.SELF],
    "script-src": [CSP.SELF],
    "style-src": [CSP.SELF],
    "img-src": [CSP.SELF, "data:"],
    "font-src": [CSP.SELF],
    "connect-src": [CSP.SELF],
    "object-src": [CSP.NONE],
    "base-uri": [CSP.NONE],
    "form-action": [CSP.SELF],
    "frame-ancestors": [CSP.NONE],
}
X_FRAME_OPTIONS = "DENY"
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
SECURE_CROSS_ORIGIN_OPENER_POLICY = "same-origin"
if not DEBUG:
    # https://docs.djangoproject.com/en/6.1/howto/deployment/checklist/
    SECURE_SSL_REDIRECT = env.bool("SECURE_SSL_REDIRECT", default=True)
    # The load balancer probes /healthz over plain HTTP.
    SECURE_REDIRECT_EXEMPT = [r"^healthz$"]
    SECURE_HSTS_SECONDS = env.int("SECURE_HSTS_SECONDS", default=60 * 60 * 24 * 365)
    SECURE_HSTS_INCLUDE_SUBDOMAINS = True
    SECURE_HSTS_PRELOAD = True
    SESSION_COOKIE_SECURE = True
    CSRF_COOKIE_SECURE = True
    if env.bool("USE_X_FORWARDED_PROTO", default=False):
        SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")

# Request bodies keep Django's default limit (DATA_UPLOAD_MAX_MEMORY_SIZE, 2.5 MB) on
# every URL but the gateway's generations, which reads its batches under a limit of its
# own (gateway.schemas.MAX_BATCH_BYTES, 32 MB; gateway/fast_path.py).

# --- Portal ------------------------------------------------------------------
PORTAL_GATEWAY_TOKEN = env.str("PORTAL_GATEWAY_TOKEN", default="")
# Unset, the gateway API refuses every call; set, in production, it must be long enough
# that guessing it is hopeless (secrets.token_urlsafe(32) gives 43 characters).
PORTAL_GATEWAY_TOKEN_MIN_LENGTH = 32
if not DEBUG and 0 < len(PORTAL_GATEWAY_TOKEN) < PORTAL_GATEWAY_TOKEN_MIN_LENGTH:
    raise ImproperlyConfigured(
        f"PORTAL_GATEWAY_TOKEN must be at least {PORTAL_GATEWAY_TOKEN_MIN_LENGTH} characters "
        f"in production (it has {len(PORTAL_GATEWAY_TOKEN)}); leave it unset to close the "
        "gateway API."
    )
# The gateway API's OpenAPI document is open in development; in production it needs the
# gateway's token like the API (it maps the internal surface for an attacker).
PORTAL_GATEWAY_SCHEMA_PUBLIC = DEBUG
# The gateway's decision query is prepared once per connection (gateway/prepared.py); off,
# it goes through Django's cursor like any other query (e.g. behind a transaction pooler).
PORTAL_PREPARED_STATEMENTS = env.bool("PORTAL_PREPARED_STATEMENTS", default=True)
# The policy is opt-out: prompt logging is on for new accounts unless configured off.
PORTAL_PROMPT_LOGGING_DEFAULT = env.bool("PORTAL_PROMPT_LOGGING_DEFAULT", default=True)
# Stored prompt and completion text is kept this many days at most; a person may choose
# fewer, down to one (logging_prefs/retention.py).
PORTAL_PROMPT_RETENTION_DAYS = env.int("PORTAL_PROMPT_RETENTION_DAYS", default=30)
# How long the activity page keeps a drawing of its charts for the same figures
# (logging_prefs/charts.py); 0: drawn on every page.
PORTAL_CHART_CACHE_SECONDS = env.int("PORTAL_CHART_CACHE_SECONDS", default=60 * 60)
# Each request's metadata (model, provider, key, app, time, tokens, cost) is kept this
# many days; older days are folded into per-account daily totals by model and provider
# (logging_prefs/folding.py). 400: a year of invoices and a month to spare.
PORTAL_ACTIVITY_RETENTION_DAYS = env.int("PORTAL_ACTIVITY_RETENTION_DAYS", default=400)
for _name in ("PORTAL_PROMPT_RETENTION_DAYS", "PORTAL_ACTIVITY_RETENTION_DAYS"):
    if globals()[_name] < 1:
        raise ImproperlyConfigured(f"{_name} must be at least 1 (it is {globals()[_name]}).")
PORTAL_TERMINATION_PURGE_DAYS = env.int("PORTAL_TERMINATION_PURGE_DAYS", default=30)
# How long support keeps a ticket after answering it or turning it into a request (a
# year: enough to look up what was said if the person writes again); open ones stay.
PORTAL_TICKET_RETENTION_DAYS = env.int("PORTAL_TICKET_RETENTION_DAYS", default=365)
# The public model pages leave out every category count below this: a small count could
# be one customer's use (logging_prefs.selectors.published_category_counts).
PORTAL_CATEGORY_MIN_COUNT = env.int("PORTAL_CATEGORY_MIN_COUNT", default=10)
# The portal's public address, for links in mail sent outside a request (a termination
# notice cites the terms with a link).
PORTAL_SITE_URL = env.str(
    "PORTAL_SITE_URL",
    default="http://localhost:8000"
    if DEBUG
    else f"https://{ALLOWED_HOSTS[0]}"
    if ALLOWED_HOSTS
    else "",
).rstrip("/")

# --- Where data lives ----------------------------------------------------------
# The region the portal runs in (its database: the accounts and the stored prompts),
# and where the backups and the mail provider are, as codes of portal/regions.py (eu,
# us...). /legal/data-location/ quotes them; the privacy page's "Keep my requests in
# <region>" keeps the gateway on PORTAL_DATA_REGION's endpoints. An unknown code fails
# `manage.py check` (portal.E001).
PORTAL_DATA_REGION = env.str("PORTAL_DATA_REGION", default="eu")
PORTAL_BACKUP_REGION = env.str("PORTAL_BACKUP_REGION", default=PORTAL_DATA_REGION)
PORTAL_MAIL_REGION = env.str("PORTAL_MAIL_REGION", default=PORTAL_DATA_REGION)

# --- Analytics ---------------------------------------------------------------
# Off unless an operator names a provider (plausible, matomo or google) and a site: its
# script then loads, and the CSP allows its origin, only for a visitor who accepted it
# on the cookie notice (privacy/analytics.py; a bad value fails `manage.py check`).
PORTAL_ANALYTICS_PROVIDER = env.str("PORTAL_ANALYTICS_PROVIDER", default="")
# Plausible: the site's domain; Matomo: the numeric site id; Google: the G-… id.
PORTAL_ANALYTICS_SITE_ID = env.str("PORTAL_ANALYTICS_SITE_ID", default="")
# Where the script comes from and the visits go, e.g. https://plausible.example.org (a
# self-hosted server). Plausible defaults to https://plausible.io; Matomo needs it.
PORTAL_ANALYTICS_ORIGIN = env.str("PORTAL_ANALYTICS_ORIGIN", default="")

# --- Logging -----------------------------------------------------------------
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s %(message)s"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "root": {"handlers": ["console"], "level": env.str("LOG_LEVEL", default="INFO")},
}

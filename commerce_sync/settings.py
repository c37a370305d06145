"""Project settings: the only module that reads the environment.

Every value comes from an environment variable (or `var/.env`, which never
overrides a variable that is already set). Defaults are the production-safe
ones; `DEBUG=1` relaxes what a developer's laptop cannot provide.
"""

import base64
import hashlib
import os
from datetime import timedelta
from pathlib import Path

import environ

BASE_DIR = Path(__file__).resolve().parent.parent
VAR_DIR = BASE_DIR / "var"

env = environ.Env()
# ENV_FILE="" disables the file (the test run does this to stay hermetic).
_env_file = env.str("ENV_FILE", default=str(VAR_DIR / ".env"))
if _env_file and Path(_env_file).is_file():
    environ.Env.read_env(_env_file)

DEBUG = env.bool("DEBUG", default=False)

# Missing secrets with DEBUG off are not an import error: commands that need
# none (preview_sync) must run anywhere. Servers and workers refuse to start
# without them (system checks in connectors/checks.py, and the WSGI/ASGI entry
# points), and Django itself refuses to sign anything with an empty key.
SECRET_KEY = env.str("SECRET_KEY", default="")
if not SECRET_KEY and DEBUG:
    SECRET_KEY = "insecure-development-key-never-use-in-production"  # noqa: S105

ALLOWED_HOSTS = env.list("ALLOWED_HOSTS", default=[])
CSRF_TRUSTED_ORIGINS = env.list("CSRF_TRUSTED_ORIGINS", default=[])

# Fernet keys for connection credentials: the first encrypts, all decrypt, so a
# new key is prepended, `rotate_credentials` run, then the old key removed.
CREDENTIALS_KEYS = env.list("CREDENTIALS_KEYS", default=[])
if not CREDENTIALS_KEYS and DEBUG:
    _digest = hashlib.sha256(b"commerce-sync credentials:" + SECRET_KEY.encode()).digest()
    CREDENTIALS_KEYS = [base64.urlsafe_b64encode(_digest).decode()]

LEDGER_DIR = Path(env.str("LEDGER_DIR", default=str(VAR_DIR / "ledgers")))

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "rest_framework",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "django_q",
    "anymail",
    "django_prometheus",
    "axes",  # locks out repeated failed logins on /admin/ and /portal/
    "commerce_sync.core",
    "commerce_sync.inbound",
    "commerce_sync.webhooks",
    "commerce_sync.idempotency",
    "commerce_sync.bench",
    "connectors",
    "connectors.partner",  # keeps the migrations that created inbound's table
    "csp",
    "setup_flow",
    "portal",
]

MIDDLEWARE = [
    # Request counts and latencies for /metrics (first and last: they time everything between).
    "django_prometheus.middleware.PrometheusBeforeMiddleware",
    "django.middleware.security.SecurityMiddleware",
    # Serves the admin's static files from STATIC_ROOT (collectstatic) when DEBUG is off.
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "commerce_sync.security.PagePolicyCSPMiddleware",  # django-csp's, per page family
    "django_permissions_policy.PermissionsPolicyMiddleware",
    "axes.middleware.AxesMiddleware",  # last but the Prometheus timer, as django-axes asks
    "django_prometheus.middleware.PrometheusAfterMiddleware",
]

# Failed logins (the operator's /admin/ and the support portal's /portal/, both
# Django's admin login): after AXES_FAILURE_LIMIT failures for one username
# from one address, that pair is refused (HTTP 429) for AXES_COOLOFF_MINUTES,
# even with the right password. Unlock early: `manage.py axes_reset` (all),
# `axes_reset_username NAME` or `axes_reset_ip ADDRESS`.
AUTHENTICATION_BACKENDS = [
    "axes.backends.AxesStandaloneBackend",
    "django.contrib.auth.backends.ModelBackend",
]
AXES_FAILURE_LIMIT = env.int("AXES_FAILURE_LIMIT", default=5)
AXES_COOLOFF_TIME = timedelta(minutes=env.int("AXES_COOLOFF_MINUTES", default=15))
AXES_LOCKOUT_PARAMETERS = [["username", "ip_address"]]
AXES_RESET_ON_SUCCESS = True
# The lockout answer: a page in the portal's style (429, Retry-After), not a bare text.
AXES_LOCKOUT_CALLABLE = "portal.lockout.lockout_response"
# No start-up banner: commands such as preview_sync keep stdout for their JSON.
AXES_VERBOSE = False
# Behind a proxy, the number of proxies in front of us (X-Forwarded-For).
AXES_IPWARE_PROXY_COUNT = env.int("AXES_IPWARE_PROXY_COUNT", default=0) or None
AXES_IPWARE_META_PRECEDENCE_ORDER = (
    ["HTTP_X_FORWARDED_FOR", "REMOTE_ADDR"] if AXES_IPWARE_PROXY_COUNT else ["REMOTE_ADDR"]
)

ROOT_URLCONF = "commerce_sync.urls"
WSGI_APPLICATION = "commerce_sync.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ],
        },
    },
]

# Database ----------------------------------------------------------------

DATABASES = {
    "default": env.db_url("DATABASE_URL", default=f"sqlite:///{VAR_DIR / 'db.sqlite3'}"),
}
_db = DATABASES["default"]
# The largest request body read by every endpoint but the push (larger is a 413).
DATA_UPLOAD_MAX_MEMORY_SIZE = env.int("DATA_UPLOAD_MAX_MEMORY_SIZE", default=2_000_000)
# The push endpoint's own limit, in bytes after gunzip: 5,000 realistic orders
# (about 1 to 5 KB each as JSON) fit; gzip on the wire shrinks them about 20 times.
PUSH_MAX_BODY_BYTES = env.int("PUSH_MAX_BODY_BYTES", default=40_000_000)

# Persistent connections (checked before reuse): a new PostgreSQL connection per
# request costs more than the request itself (bench_api).
_db["CONN_MAX_AGE"] = env.int("CONN_MAX_AGE", default=60)
_db["CONN_HEALTH_CHECKS"] = True
if _db["ENGINE"] == "django.db.backends.sqlite3":
    Path(_db["NAME"]).parent.mkdir(parents=True, exist_ok=True)
    # IMMEDIATE takes the write lock up front, so the web process and qcluster
    # workers queue behind each other instead of failing with "database is locked".
    _db.setdefault("OPTIONS", {}).update(
        {
            "transaction_mode": "IMMEDIATE",
            "timeout": 20,
            "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
        }
    )

# METRICS_DB=1 counts queries and errors per database in /metrics through
# django-prometheus's engine wrappers (PostgreSQL and SQLite); off by default.
if env.bool("METRICS_DB", default=False):
    _db["ENGINE"] = {
        "django.db.backends.postgresql": "django_prometheus.db.backends.postgresql",
        "django.db.backends.sqlite3": "django_prometheus.db.backends.sqlite3",
    }.get(_db["ENGINE"], _db["ENGINE"])

DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": f"django.contrib.auth.password_validation.{name}"}
    for name in (
        "UserAttributeSimilarityValidator",
        "MinimumLengthValidator",
        "CommonPasswordValidator",
        "NumericPasswordValidator",
    )
]

# Internationalisation -----------------------------------------------------

LANGUAGE_CODE = "en"
LANGUAGES = [("en", "English"), ("fr", "Français")]
# The project's own catalogue (alert emails); apps keep theirs in <app>/locale.
LOCALE_PATHS = [BASE_DIR / "commerce_sync" / "locale"]
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATIC_ROOT = Path(env.str("STATIC_ROOT", default=str(BASE_DIR / "staticfiles")))
WHITENOISE_USE_FINDERS = DEBUG  # no collectstatic needed on a developer's machine
STATIC_ROOT.mkdir(parents=True, exist_ok=True)  # WhiteNoise warns about a missing one

# Security -------------------------------------------------------------------
# Secure unless DEBUG; each switch can be turned off for a TLS-terminating setup.

SECURE_SSL_REDIRECT = env.bool("SECURE_SSL_REDIRECT", default=not DEBUG)
# Load balancers probe over plain HTTP.
SECURE_REDIRECT_EXEMPT = [r"^healthz$", r"^metrics$"]
if env.bool("TRUST_X_FORWARDED_PROTO", default=False):
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
SESSION_COOKIE_SECURE = env.bool("SESSION_COOKIE_SECURE", default=not DEBUG)
CSRF_COOKIE_SECURE = env.bool("CSRF_COOKIE_SECURE", default=not DEBUG)
SECURE_HSTS_SECONDS = env.int("SECURE_HSTS_SECONDS", default=0 if DEBUG else 31_536_000)
SECURE_HSTS_INCLUDE_SUBDOMAINS = env.bool("SECURE_HSTS_INCLUDE_SUBDOMAINS", default=True)
SECURE_HSTS_PRELOAD = env.bool("SECURE_HSTS_PRELOAD", default=True)
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
SESSION_COOKIE_HTTPONLY = True
SESSION_COOKIE_SAMESITE = "Lax"  # sent on the OAuth callback (a top-level GET from the vendor)

# Content-Security-Policy (django-csp) on every page: this origin only, no
# inline script or style (the merchant's pages). CSP_PREFIX_REPLACE relaxes a
# directive for a family of pages (commerce_sync/security.py): the admin and
# the portal (Django admin templates) keep inline styles, never inline script;
# the API's Swagger UI page runs its inline bootstrap.
CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": ["'self'"],
        "img-src": ["'self'", "data:"],
        "style-src": ["'self'"],
        "script-src": ["'self'"],
        "object-src": ["'none'"],
        "base-uri": ["'none'"],
        "frame-ancestors": ["'none'"],
        "form-action": ["'self'"],
    },
}
_INLINE_STYLE = {"style-src": ["'self'", "'unsafe-inline'"]}
CSP_PREFIX_REPLACE = {
    "/admin/": _INLINE_STYLE,
    "/portal/": _INLINE_STYLE,
    "/api/": {**_INLINE_STYLE, "script-src": ["'self'", "'unsafe-inline'"]},
}
# Permissions-Policy (django-permissions-policy) on every response: no page
# of ours uses a device, sensor, payment or window feature, so none may.
# Only features Chromium recognises: an unknown one (such as "bluetooth")
# is an error on every page's console.
PERMISSIONS_POLICY: dict[str, list[str]] = {
    feature: []
    for feature in (
        "accelerometer",
        "autoplay",
        "browsing-topics",
        "camera",
        "display-capture",
        "encrypted-media",
        "fullscreen",
        "geolocation",
        "gyroscope",
        "hid",
        "idle-detection",
        "interest-cohort",
        "magnetometer",
        "microphone",
        "midi",
        "payment",
        "publickey-credentials-get",
        "screen-wake-lock",
        "serial",
        "usb",
        "xr-spatial-tracking",
    )
}
# How long a merchant's setup-flow session lasts after its start URL was opened.
SETUP_SESSION_SECONDS = env.int("SETUP_SESSION_SECONDS", default=7200)
# How long an invitation to complete one stage of the flow stays valid (once).
SETUP_INVITE_TTL = env.int("SETUP_INVITE_TTL", default=3 * 24 * 3600)
X_FRAME_OPTIONS = "DENY"

# Django REST framework -------------------------------------------------------

REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_RENDERER_CLASSES": [
        "rest_framework.renderers.JSONRenderer",
        *(["rest_framework.renderers.BrowsableAPIRenderer"] if DEBUG else []),
    ],
    # Every partner API error is Codat's ErrorMessage body (commerce_sync/api/errors.py).
    "EXCEPTION_HANDLER": "commerce_sync.api.errors.api_exception_handler",
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
}

# The partner API's OpenAPI description (drf-spectacular) at /api/v1/schema/,
# its reference page (Swagger UI) at /api/v1/docs/ with assets served locally (sidecar).
SPECTACULAR_SETTINGS = {
    "TITLE": "Commerce Sync partner API",
    "DESCRIPTION": (
        "Codat Sync for Commerce compatible: set your client's server URL to "
        "https://{host}/api/v1 and send your API key as Authorization: Basic "
        "{base64 of the key} (or Bearer {key})."
    ),
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    "SCHEMA_PATH_PREFIX": "/api/v1",
    # Paths as Codat writes them (/companies ...), below the server URL /api/v1.
    "SCHEMA_PATH_PREFIX_TRIM": True,
    "SERVERS": [{"url": "/api/v1"}],
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "COMPONENT_SPLIT_REQUEST": True,
    # Codat's ErrorMessage documented once for every operation's errors (and
    # drf-spectacular's own enum hook, which a custom list replaces).
    "POSTPROCESSING_HOOKS": [
        "drf_spectacular.hooks.postprocess_schema_enums",
        "commerce_sync.api.common.error_responses_postprocess",
    ],
    # Two choice sets share the field name "status": name each after its object.
    "ENUM_NAME_OVERRIDES": {
        "ConnectionStatusEnum": "commerce_sync.api.connections.STATUSES",
        "WebhookDeliveryStatusEnum": "commerce_sync.webhooks.models.WebhookDelivery.Status",
    },
}

# django-q2 -------------------------------------------------------------------
# ORM broker on the default database: guaranteed delivery and visible in the
# admin. retry must exceed timeout or a slow task is delivered twice while running.

Q_CLUSTER = {
    "name": "commerce_sync",
    "workers": env.int("Q_WORKERS", default=2),
    "timeout": 600,
    "retry": 720,
    "max_attempts": 3,
    "catch_up": False,
    "sync": env.bool("Q_SYNC", default=False),
    "label": "Tasks",
    "orm": "default",
}
REDIS_URL = env.str("REDIS_URL", default="")
if REDIS_URL:
    del Q_CLUSTER["orm"]
    Q_CLUSTER["redis"] = REDIS_URL

# The cache every process shares: the partner API's rate limits and the
# accounting options shown with a configuration. Redis when REDIS_URL is set,
# else a table in the database (`manage.py createcachetable`, run by make).
CACHES = {
    "default": (
        {"BACKEND": "django.core.cache.backends.redis.RedisCache", "LOCATION": REDIS_URL}
        if REDIS_URL
        else {
            "BACKEND": "django.core.cache.backends.db.DatabaseCache",
            "LOCATION": "django_cache",
            "OPTIONS": {"MAX_ENTRIES": 100_000},
        }
    )
}

# Partner API limits, per partner: every request, and sync requests on top
# ("N/s", "N/min", "N/hour", "N/day"; commerce_sync/core/services/rate_limits.py).
PARTNER_API_RATE = env.str("PARTNER_API_RATE", default="600/min")
PARTNER_API_SYNC_RATE = env.str("PARTNER_API_SYNC_RATE", default="60/min")
# Wrong or malformed API keys per client address before it gets 429s.
PARTNER_API_FAILED_AUTH_RATE = env.str("PARTNER_API_FAILED_AUTH_RATE", default="10/min")
# Where the limits are counted, shared by every process: a Redis URL (one
# round trip per request), else the database (one upsert per request).
# Defaults to REDIS_URL.
RATE_LIMIT_REDIS_URL = env.str("RATE_LIMIT_REDIS_URL", default=REDIS_URL)
# How long a process remembers an accepted API key (no query for it): a
# key revoked in another process is refused at most this many seconds later.
# 0: every request looks its key up.
PARTNER_API_KEY_CACHE_SECONDS = env.int("PARTNER_API_KEY_CACHE_SECONDS", default=10)
IDEMPOTENCY_KEY_TTL_HOURS = env.int("IDEMPOTENCY_KEY_TTL_HOURS", default=24)
# How far in the future a pushed record's createdDate or modifiedDate may be
# (the partner's clock running ahead of ours); later ones are refused.
PUSH_CLOCK_SKEW_SECONDS = env.int("PUSH_CLOCK_SKEW_SECONDS", default=300)

# Logging -----------------------------------------------------------------------
# One JSON object per line on standard error (standard output holds only a
# command's result); LOG_FORMAT=text for a readable console.

LOG_LEVEL = env.str("LOG_LEVEL", default="INFO").upper()
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {
        "json": {"()": "commerce_sync.log.JsonFormatter"},
        "text": {"format": "%(asctime)s %(levelname)s %(name)s: %(message)s"},
    },
    "handlers": {
        "stderr": {
            "class": "logging.StreamHandler",
            "stream": "ext://sys.stderr",
            "formatter": env.str("LOG_FORMAT", default="json"),
        },
    },
    "root": {"handlers": ["stderr"], "level": LOG_LEVEL},
    "loggers": {
        # Replace Django's own handlers (console-in-DEBUG, mail_admins) so every
        # record goes through the root handler exactly once.
        "django": {"handlers": [], "level": LOG_LEVEL, "propagate": True},
        "django.server": {"handlers": [], "level": LOG_LEVEL, "propagate": True},
        "django-q": {"handlers": [], "level": LOG_LEVEL, "propagate": True},
    },
}

# Xero ---------------------------------------------------------------------------
# The real hosts by default; tests point them at a local double. The tenant
# list (/connections) lives on the API host, the token endpoints on identity.

XERO_API_URL = env.str("XERO_API_URL", default="https://api.xero.com/api.xro/2.0")
XERO_IDENTITY_URL = env.str("XERO_IDENTITY_URL", default="https://identity.xero.com")
XERO_AUTHORIZE_URL = env.str(
    "XERO_AUTHORIZE_URL", default="https://login.xero.com/identity/connect/authorize"
)
XERO_CLIENT_ID = env.str("XERO_CLIENT_ID", default="")
XERO_CLIENT_SECRET = env.str("XERO_CLIENT_SECRET", default="")

# FreeAgent ----------------------------------------------------------------------
# API v2 on the production host by default; FREEAGENT_SANDBOX=true picks the
# sandbox host (../shared/reference/README.md). OAuth's authorise and token
# endpoints live under the same /v2. FreeAgent requires a User-Agent.

FREEAGENT_SANDBOX = env.bool("FREEAGENT_SANDBOX", default=False)
FREEAGENT_API_URL = env.str(
    "FREEAGENT_API_URL",
    default="https://api.sandbox.freeagent.com/v2"
    if FREEAGENT_SANDBOX
    else "https://api.freeagent.com/v2",
)
FREEAGENT_CLIENT_ID = env.str("FREEAGENT_CLIENT_ID", default="")
FREEAGENT_CLIENT_SECRET = env.str("FREEAGENT_CLIENT_SECRET", default="")
FREEAGENT_USER_AGENT = env.str("FREEAGENT_USER_AGENT", default="CommerceSync/1.0")

# QuickBooks Online ---------------------------------------------------------------
# The vendor's real hosts by default; point them at a double or a sandbox here.

QUICKBOOKS_API_URL = env.str("QUICKBOOKS_API_URL", default="https://quickbooks.api.intuit.com")
QUICKBOOKS_AUTHORIZE_URL = env.str(
    "QUICKBOOKS_AUTHORIZE_URL", default="https://appcenter.intuit.com/connect/oauth2"
)
QUICKBOOKS_TOKEN_URL = env.str(
    "QUICKBOOKS_TOKEN_URL", default="https://oauth.platform.intuit.com/oauth2/v1/tokens/bearer"
)
QUICKBOOKS_REVOKE_URL = env.str(
    "QUICKBOOKS_REVOKE_URL", default="https://developer.api.intuit.com/v2/oauth2/tokens/revoke"
)
QUICKBOOKS_CLIENT_ID = env.str("QUICKBOOKS_CLIENT_ID", default="")
QUICKBOOKS_CLIENT_SECRET = env.str("QUICKBOOKS_CLIENT_SECRET", default="")

# Exact Online ----------------------------------------------------------------
# Each country has its own host (https://start.exactonline.<nl|be|co.uk|de|fr|es|com>),
# chosen per connection (`ExactSettings.host`). EXACT_BASE_URL, when set,
# replaces every country's host (a double, a proxy).

EXACT_BASE_URL = env.str("EXACT_BASE_URL", default="")
EXACT_CLIENT_ID = env.str("EXACT_CLIENT_ID", default="")
EXACT_CLIENT_SECRET = env.str("EXACT_CLIENT_SECRET", default="")

# Sage Accounting -------------------------------------------------------------
# API v3.1 and Sage's OAuth endpoints (../shared/reference/README.md); each
# can be pointed elsewhere (a double, a proxy).

SAGE_API_URL = env.str("SAGE_API_URL", default="https://api.accounting.sage.com/v3.1")
SAGE_AUTHORIZE_URL = env.str(
    "SAGE_AUTHORIZE_URL", default="https://www.sageone.com/oauth2/auth/central?filter=apiv3.1"
)
SAGE_TOKEN_URL = env.str("SAGE_TOKEN_URL", default="https://oauth.accounting.sage.com/token")
# Revokes a refresh token when the connection is unlinked
# (developer.sage.com/accounting/guides/authenticating/authentication/).
SAGE_REVOKE_URL = env.str("SAGE_REVOKE_URL", default="https://oauth.accounting.sage.com/revoke")
SAGE_CLIENT_ID = env.str("SAGE_CLIENT_ID", default="")
SAGE_CLIENT_SECRET = env.str("SAGE_CLIENT_SECRET", default="")


# MYOB Business (AccountRight) ---------------------------------------------------
# The API host (company files under /accountright/<id>/) and the OAuth host;
# the API key is the OAuth client id. Keys made since 2025-03-12 must ask for
# granular `sme-...` scopes (set MYOB_SCOPES); older keys use CompanyFile.
MYOB_API_URL = env.str("MYOB_API_URL", default="https://api.myob.com")
MYOB_OAUTH_URL = env.str("MYOB_OAUTH_URL", default="https://secure.myob.com")
MYOB_CLIENT_ID = env.str("MYOB_CLIENT_ID", default="")
MYOB_CLIENT_SECRET = env.str("MYOB_CLIENT_SECRET", default="")
MYOB_SCOPES = env.str("MYOB_SCOPES", default="CompanyFile")

# Partner commerce ------------------------------------------------------------
# Hosts (names, addresses or CIDR networks) that partner-configured URLs may
# reach although they resolve to internal addresses; empty: none.
PARTNER_ALLOWED_HOSTS = env.list("PARTNER_ALLOWED_HOSTS", default=[])

# Partner webhooks ------------------------------------------------------------
# Webhook URLs get the same guard (PARTNER_ALLOWED_HOSTS lets internal hosts
# through). WEBHOOK_ALLOW_PRIVATE=1 turns the guard off, so receivers on
# loopback or a private network can be used: tests and local development
# only, never in production.
WEBHOOK_ALLOW_PRIVATE = env.bool("WEBHOOK_ALLOW_PRIVATE", default=False)

# Zettle -----------------------------------------------------------------------
# The vendor's real hosts by default; point them at a double here.
ZETTLE_PURCHASE_API_URL = env.str("ZETTLE_PURCHASE_API_URL", default="https://purchase.izettle.com")
ZETTLE_FINANCE_API_URL = env.str("ZETTLE_FINANCE_API_URL", default="https://finance.izettle.com")
ZETTLE_OAUTH_URL = env.str("ZETTLE_OAUTH_URL", default="https://oauth.zettle.com")
ZETTLE_CLIENT_ID = env.str("ZETTLE_CLIENT_ID", default="")
ZETTLE_CLIENT_SECRET = env.str("ZETTLE_CLIENT_SECRET", default="")

# Square ----------------------------------------------------------------------
# The Connect API host (OAuth endpoints live on it too); point it at a double here.
SQUARE_API_URL = env.str("SQUARE_API_URL", default="https://connect.squareup.com")
SQUARE_CLIENT_ID = env.str("SQUARE_CLIENT_ID", default="")
SQUARE_CLIENT_SECRET = env.str("SQUARE_CLIENT_SECRET", default="")

# Stripe ----------------------------------------------------------------------
# The API host (its OpenAPI description's server); point it at a double here.
STRIPE_API_URL = env.str("STRIPE_API_URL", default="https://api.stripe.com")
# Stripe Connect (standard accounts, OAuth `read_only`): the platform's
# client id (`ca_...`) and secret key, which reads connected accounts with
# the `Stripe-Account` header. Empty: Stripe connects by restricted key only.
STRIPE_CONNECT_URL = env.str("STRIPE_CONNECT_URL", default="https://connect.stripe.com")
STRIPE_CONNECT_CLIENT_ID = env.str("STRIPE_CONNECT_CLIENT_ID", default="")
STRIPE_SECRET_KEY = env.str("STRIPE_SECRET_KEY", default="")

# SumUp -----------------------------------------------------------------------
# The API host (its OpenAPI description's server); point it at a double here.
SUMUP_API_URL = env.str("SUMUP_API_URL", default="https://api.sumup.com")
SUMUP_CLIENT_ID = env.str("SUMUP_CLIENT_ID", default="")
SUMUP_CLIENT_SECRET = env.str("SUMUP_CLIENT_SECRET", default="")

# Lightspeed Restaurant K-Series ----------------------------------------------------
# Each API client is bound to one host: production or trial (chosen per
# connection by its `environment` setting); point them at a double here.
LIGHTSPEED_K_API_URL = env.str("LIGHTSPEED_K_API_URL", default="https://api.lsk.lightspeed.app")
LIGHTSPEED_K_TRIAL_API_URL = env.str(
    "LIGHTSPEED_K_TRIAL_API_URL", default="https://api.trial.lsk.lightspeed.app"
)
LIGHTSPEED_K_CLIENT_ID = env.str("LIGHTSPEED_K_CLIENT_ID", default="")
LIGHTSPEED_K_CLIENT_SECRET = env.str("LIGHTSPEED_K_CLIENT_SECRET", default="")

# Clover ----------------------------------------------------------------------
# Hosts per region (connectors/clover/regions.py has Clover's real ones);
# point a region at a double with e.g. CLOVER_API_URLS={"na": "http://..."}.
CLOVER_API_URLS = env.json("CLOVER_API_URLS", default={})
CLOVER_WEB_URLS = env.json("CLOVER_WEB_URLS", default={})
CLOVER_CLIENT_ID = env.str("CLOVER_CLIENT_ID", default="")
CLOVER_CLIENT_SECRET = env.str("CLOVER_CLIENT_SECRET", default="")

# Shopify -----------------------------------------------------------------------
# GraphQL Admin API endpoint per shop ({shop} is the myshopify.com domain);
# tests point it at a local double.
SHOPIFY_API_URL_TEMPLATE = env.str(
    "SHOPIFY_API_URL_TEMPLATE", default="https://{shop}/admin/api/2025-01/graphql.json"
)
SHOPIFY_CLIENT_ID = env.str("SHOPIFY_CLIENT_ID", default="")
SHOPIFY_CLIENT_SECRET = env.str("SHOPIFY_CLIENT_SECRET", default="")

# Alerts ------------------------------------------------------------------------
# Operators mailed when a merchant needs attention (revoked grant, sync disabled).
ALERT_EMAILS = env.list("ALERT_EMAILS", default=[])
DEFAULT_FROM_EMAIL = env.str("DEFAULT_FROM_EMAIL", default="commerce-sync@localhost")
# SMTP by default; "django.core.mail.backends.console.EmailBackend" prints them;
# a provider through django-anymail, e.g. "anymail.backends.mailgun.EmailBackend"
# (or postmark, sendgrid, amazon_ses, brevo ...), takes its settings from
# ANYMAIL_* variables: ANYMAIL_MAILGUN_API_KEY=... becomes ANYMAIL["MAILGUN_API_KEY"].
EMAIL_BACKEND = env.str("EMAIL_BACKEND", default="django.core.mail.backends.smtp.EmailBackend")
EMAIL_HOST = env.str("EMAIL_HOST", default="localhost")
EMAIL_PORT = env.int("EMAIL_PORT", default=25)
EMAIL_HOST_USER = env.str("EMAIL_HOST_USER", default="")
EMAIL_HOST_PASSWORD = env.str("EMAIL_HOST_PASSWORD", default="")
EMAIL_USE_TLS = env.bool("EMAIL_USE_TLS", default=False)
EMAIL_TIMEOUT = env.int("EMAIL_TIMEOUT", default=10)
ANYMAIL = {
    name.removeprefix("ANYMAIL_"): value
    for name, value in os.environ.items()
    if name.startswith("ANYMAIL_")
}

# Shopify OAuth ------------------------------------------------------------------
# Token endpoint per shop ({shop} is the myshopify.com domain); tests point it
# at a local double so an expired token's refresh can run end to end.
SHOPIFY_TOKEN_URL_TEMPLATE = env.str(
    "SHOPIFY_TOKEN_URL_TEMPLATE", default="https://{shop}/admin/oauth/access_token"
)
# The shop's consent screen (a double's in tests and the demo).
SHOPIFY_AUTHORIZE_URL_TEMPLATE = env.str(
    "SHOPIFY_AUTHORIZE_URL_TEMPLATE", default="https://{shop}/admin/oauth/authorize"
)

# Partner API ---------------------------------------------------------------------
# SITE_URL: the public base URL (https://host) put in links the API hands out
# (the sync-flow start URL); empty: the host the request came to.
SITE_URL = env.str("SITE_URL", default="").rstrip("/")
# Where `make run` serves when SITE_URL is empty (scripts/serve.sh listens on
# 127.0.0.1:$PORT): links printed by commands (setup_link,
# support_user_create) use it, so a moved PORT gives working links.
LOCAL_SITE_URL = f"http://127.0.0.1:{env.int('PORT', default=8000)}"
# How long a sync-flow start URL's single-use code is valid, in seconds.
SETUP_LINK_TTL = env.int("SETUP_LINK_TTL", default=30)
# Merchants created through the API without country/currency/timeZone get the
# partner's defaults (PartnerSyncFlowSettings.merchant_defaults), else these.
MERCHANT_DEFAULT_COUNTRY = env.str("MERCHANT_DEFAULT_COUNTRY", default="GB")
MERCHANT_DEFAULT_CURRENCY = env.str("MERCHANT_DEFAULT_CURRENCY", default="GBP")
MERCHANT_DEFAULT_TIME_ZONE = env.str("MERCHANT_DEFAULT_TIME_ZONE", default="Europe/London")

# Alerts to partners and merchants (commerce_sync/core/services/alerts.py) -------
# The merchant's alert settings page, linked from their alert emails (after
# SITE_URL, before the signed token); the link works MERCHANT_ALERT_LINK_DAYS days.
MERCHANT_SETTINGS_PATH = env.str("MERCHANT_SETTINGS_PATH", default="/setup/alerts/")
MERCHANT_ALERT_LINK_DAYS = env.int("MERCHANT_ALERT_LINK_DAYS", default=30)
# The daily digest per partner goes at this hour, UTC (a django-q2 schedule).
ALERT_DIGEST_HOUR = env.int("ALERT_DIGEST_HOUR", default=7)

# Operations -------------------------------------------------------------------
# /metrics (Prometheus) is a 404 until one of these is set; each one set must
# pass: a bearer token, and/or the client address (REMOTE_ADDR: behind a proxy,
# the proxy's) inside one of the listed addresses or networks (CIDR).
METRICS_TOKEN = env.str("METRICS_TOKEN", default="")
METRICS_ALLOWED_IPS = env.list("METRICS_ALLOWED_IPS", default=[])

# Errors to Sentry when SENTRY_DSN is set (sentry-sdk): no personal data, no
# local variables, secrets' names scrubbed (commerce_sync/observability.py).
SENTRY_DSN = env.str("SENTRY_DSN", default="")
SENTRY_ENVIRONMENT = env.str("SENTRY_ENVIRONMENT", default="production")
SENTRY_TRACES_SAMPLE_RATE = env.float("SENTRY_TRACES_SAMPLE_RATE", default=0.0)
if SENTRY_DSN:
    from commerce_sync.observability import sentry_init

    sentry_init(
        dsn=SENTRY_DSN,
        environment=SENTRY_ENVIRONMENT,
        traces_sample_rate=SENTRY_TRACES_SAMPLE_RATE,
    )

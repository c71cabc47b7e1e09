"""Settings, read from the environment with one strict reader (``config.environment.StrictEnv``).

Every variable is listed in README.md ("Configuration"). An invalid value is collected in
``CONFIGURATION_PROBLEMS`` (``manage.py check`` reports it; every command refuses to run, exit 2). The
overdue-check variables are kept as the raw strings the operator wrote; ``scheduler.config`` validates
them the same way.
"""

import re
import secrets
from pathlib import Path
from zoneinfo import available_timezones

import environ

from config.environment import LOG_LEVELS, THROTTLE_RATE, StrictEnv
from reminders.window import window_problems

BASE_DIR = Path(__file__).resolve().parent.parent

environ.Env.read_env(BASE_DIR / ".env", overwrite=False)
env = StrictEnv()

# https://docs.djangoproject.com/en/5.2/ref/settings/#debug
DEBUG = env.boolean("DJANGO_DEBUG", default=False)

# https://docs.djangoproject.com/en/5.2/ref/settings/#secret-key
# Keys published in this repository (.env.example, earlier Makefiles): anyone could sign sessions with them.
PLACEHOLDER_SECRET_KEYS = frozenset(
    {"change-me-to-a-long-random-string", "local-only-insecure-key-change-me"}
)
NEW_SECRET_KEY_HINT = "make one with: python3 -c 'import secrets; print(secrets.token_urlsafe(50))'"
# No default outside debug: a production deploy without a key must not start.
SECRET_KEY = env.text("DJANGO_SECRET_KEY", default="django-insecure-debug-only-key" if DEBUG else "")
if not SECRET_KEY:
    env.problems.append(
        "DJANGO_SECRET_KEY is not set: it is required whenever DJANGO_DEBUG is off "
        "(set DJANGO_SECRET_KEY, or DJANGO_DEBUG=1 for local development only)."
    )
    # Lets Django load far enough to report the problem; nothing runs with it (see manage.py, wsgi.py).
    SECRET_KEY = secrets.token_urlsafe(50)
elif not DEBUG and SECRET_KEY in PLACEHOLDER_SECRET_KEYS:
    env.problems.append(
        f"DJANGO_SECRET_KEY={SECRET_KEY!r} is a placeholder published in this repository: it is refused "
        f"whenever DJANGO_DEBUG is off ({NEW_SECRET_KEY_HINT})."
    )
elif not DEBUG and SECRET_KEY.startswith("django-insecure"):
    # The key itself is not printed: it may be in use somewhere.
    env.problems.append(
        "DJANGO_SECRET_KEY starts with 'django-insecure' (a development key): it is refused whenever "
        f"DJANGO_DEBUG is off ({NEW_SECRET_KEY_HINT})."
    )

# https://docs.djangoproject.com/en/5.2/ref/settings/#allowed-hosts
ALLOWED_HOSTS = env.comma_list("DJANGO_ALLOWED_HOSTS", default=["localhost", "127.0.0.1"])
CSRF_TRUSTED_ORIGINS = env.comma_list("DJANGO_CSRF_TRUSTED_ORIGINS", default=[])

INSTALLED_APPS = [
    "desk.admin_apps.FinanceDeskAdminConfig",  # django.contrib.admin, with the dashboard as its index
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "django_q",
    "rest_framework",
    "django_filters",
    "drf_spectacular",
    "rangefilter",
    "import_export",
    "anymail",
    "common",
    "invoicing",
    "reminders",
    "scheduler",
    "api",
    "desk",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]

ROOT_URLCONF = "config.urls"
WSGI_APPLICATION = "config.wsgi.application"

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
            ],
        },
    },
]

# https://django-environ.readthedocs.io/en/latest/types.html#environ-env-db-url
DATABASES = {"default": env.database("DATABASE_URL", default=f"sqlite:///{BASE_DIR / 'db.sqlite3'}")}
DATABASES["default"]["ATOMIC_REQUESTS"] = False
# Seconds a thread keeps its connection for the next request rather than opening one per request (each
# new PostgreSQL connection starts a server process); checked before reuse. The web server of the image
# sets 60 (config/gunicorn.py); commands and the cluster keep Django's 0.
DATABASES["default"]["CONN_MAX_AGE"] = env.integer("DATABASE_CONN_MAX_AGE", default=0, maximum=3600)
DATABASES["default"]["CONN_HEALTH_CHECKS"] = True
# The sender prepares its per-message statements (the re-check, the outcomes' writes) on PostgreSQL
# (reminders.fastpath); the check's statements bind on the server unprepared; Django's own queries keep
# client-side binding. Turn off behind a pooler that cannot keep prepared statements.
DATABASE_PREPARED_STATEMENTS = env.boolean("DATABASE_PREPARED_STATEMENTS", default=True)
if DATABASES["default"]["ENGINE"] == "django.db.backends.postgresql" and DATABASE_PREPARED_STATEMENTS:
    # psycopg prepares nothing on a connection whose threshold is None, Django's default. Django's own
    # cursors bind on the client, which never prepares: only reminders.fastpath's statements are prepared.
    DATABASES["default"].setdefault("OPTIONS", {}).setdefault("prepare_threshold", 5)
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # The embedded database is shared by the web process, the cluster and commands on one machine
    # (https://docs.djangoproject.com/en/5.2/ref/databases/#database-is-locked-errors). A writer waits
    # up to `timeout` seconds for another's write lock instead of failing. A transaction takes the write
    # lock as it begins (IMMEDIATE): one that read first and then wrote could otherwise find another
    # writer ahead of it and fail at once, the wait unused. In WAL readers and the writer do not block
    # each other; NORMAL syncs at checkpoints (a power cut may lose the last commits, never the file).
    # Options written in DATABASE_URL's query win.
    DATABASES["default"]["OPTIONS"] = {
        "timeout": 20,
        "transaction_mode": "IMMEDIATE",
        "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
        **DATABASES["default"].get("OPTIONS", {}),
    }

DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# https://docs.djangoproject.com/en/5.2/topics/cache/#database-caching
# Caches shared by every process: the web process sees django-q2's cluster heartbeats, and every web
# process and thread counts a user's requests for the API throttle in one place. The throttle writes
# on every request: one statement in the database (common.cache), or Redis when REDIS_URL is set.
REDIS_URL = env.text("REDIS_URL", default="")
CACHES = {
    "default": {
        "BACKEND": "django.core.cache.backends.db.DatabaseCache",
        "LOCATION": "django_cache",
    },
    "throttle": (
        {"BACKEND": "django.core.cache.backends.redis.RedisCache", "LOCATION": REDIS_URL}
        if REDIS_URL
        else {"BACKEND": "common.cache.UpsertDatabaseCache", "LOCATION": "django_cache"}
    ),
}

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

# --- The overdue check (docs/SPEC.md §5); validated by scheduler.config -------------------------------------
OVERDUE_INVOICE_SCHEDULE_TYPE = env.text("OVERDUE_INVOICE_SCHEDULE_TYPE", "cron")
OVERDUE_INVOICE_SCHEDULE_VALUE = env.text("OVERDUE_INVOICE_SCHEDULE_VALUE", "0 0 * * *")
OVERDUE_INVOICE_BATCH_SIZE = env.text("OVERDUE_INVOICE_BATCH_SIZE", "100")
OVERDUE_INVOICE_TIMEZONE = env.text("OVERDUE_INVOICE_TIMEZONE", "UTC")
OVERDUE_INVOICE_REMINDER_DAYS = env.text("OVERDUE_INVOICE_REMINDER_DAYS", "1")
# highest (catch up with the highest threshold reached) or in_sequence (docs/SPEC.md §13).
REMINDER_ESCALATION = env.text("REMINDER_ESCALATION", "highest")

# https://docs.djangoproject.com/en/5.2/topics/i18n/timezones/
USE_TZ = True
# The languages a customer's reminders may be written in (SPEC §13): templates per level and language,
# dates and amounts formatted for it (Babel); LANGUAGE_CODE is a new customer's, and the fallback.
LANGUAGE_CODE = "en"
LANGUAGES = [("en", "English"), ("de", "German")]
USE_I18N = True
# Admin and API dates are shown in the zone finance works in. An invalid zone is reported by the
# system check (the commands refuse to run), so UTC here only lets the check itself start.
TIME_ZONE = OVERDUE_INVOICE_TIMEZONE if OVERDUE_INVOICE_TIMEZONE in available_timezones() else "UTC"
# https://docs.djangoproject.com/en/5.2/topics/i18n/formatting/#creating-custom-format-files
FORMAT_MODULE_PATH = ["config.formats"]


# https://django-q2.readthedocs.io/en/master/configure.html
Q_CLUSTER = {
    "name": "overdue-invoices",
    "workers": env.integer("Q_CLUSTER_WORKERS", default=2, minimum=1),
    # A run of 1M invoices takes minutes; the timeout must cover it and stay below retry, or a
    # broker would hand the same task to a second worker while the first still runs.
    "timeout": env.integer("Q_CLUSTER_TIMEOUT", default=3600, minimum=1),
    "retry": env.integer("Q_CLUSTER_RETRY", default=3660, minimum=1),
    "max_attempts": 1,
    "ack_failures": True,
    "catch_up": False,
    "time_zone": TIME_ZONE,
    "cache": "default",
    "save_limit": 1000,
    "label": "Scheduled tasks",
}
_timeout = int(str(Q_CLUSTER["timeout"]))
if _timeout >= int(str(Q_CLUSTER["retry"])):
    env.problems.append(
        f"Q_CLUSTER_TIMEOUT={Q_CLUSTER['timeout']} must be below Q_CLUSTER_RETRY={Q_CLUSTER['retry']}: "
        "a task still running when its retry time comes is handed to a second worker."
    )
if REDIS_URL:
    Q_CLUSTER["redis"] = REDIS_URL
else:
    Q_CLUSTER["orm"] = "default"

# https://www.django-rest-framework.org/api-guide/settings/
REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": ["api.authentication.BearerTokenAuthentication"],
    "DEFAULT_PERMISSION_CLASSES": ["api.permissions.IsActiveStaff"],
    "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"],
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "DEFAULT_THROTTLE_CLASSES": ["api.throttling.UserRateThrottle"],
    "DEFAULT_THROTTLE_RATES": {
        "user": env.matching(
            "API_THROTTLE_RATE", "600/minute", THROTTLE_RATE, "expected requests per period, e.g. 600/minute"
        )
    },
    "UNAUTHENTICATED_USER": None,
}
# The receivables aging's figures, read at most once per this many seconds for each as_of (0: every time).
API_AGING_CACHE_SECONDS = env.integer("API_AGING_CACHE_SECONDS", default=0, minimum=0, maximum=3600)
# The scheduler status's, likewise (the health endpoint always reads it afresh).
API_STATUS_CACHE_SECONDS = env.integer("API_STATUS_CACHE_SECONDS", default=5, minimum=0, maximum=60)
SPECTACULAR_SETTINGS = {
    "TITLE": "Overdue Invoice Scheduler API",
    "DESCRIPTION": "Monitoring of the overdue-invoice check (scheduler status and run history), "
    "receivables, and customers, invoices and payments in from the books.",
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    "ENUM_NAME_OVERRIDES": {
        "RunStatusEnum": "scheduler.models.RunStatus",
        "HealthStatusEnum": "api.serializers.HEALTH_STATES",
        "WebhookHealthEnum": "api.serializers.WEBHOOK_HEALTH_STATES",
        "InvoiceStatusEnum": "invoicing.models.InvoiceStatus",
        "WriteResultEnum": "api.book_serializers.RESULTS",
        "PaymentResultEnum": "api.book_serializers.PAYMENT_RESULTS",
    },
}

# https://docs.djangoproject.com/en/5.2/howto/static-files/
STATIC_URL = "static/"
STATIC_ROOT = BASE_DIR / "staticfiles"
# gunicorn serves the admin's CSS and JavaScript itself (collected at image build, compressed), so no
# separate web server is needed in front of it.
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "whitenoise.storage.CompressedStaticFilesStorage"},
}

# https://docs.djangoproject.com/en/5.2/ref/settings/#secure-proxy-ssl-header
SECURE_SSL_REDIRECT = env.boolean("DJANGO_SECURE_SSL_REDIRECT", default=False)
SESSION_COOKIE_SECURE = env.boolean("DJANGO_SESSION_COOKIE_SECURE", default=not DEBUG)
CSRF_COOKIE_SECURE = env.boolean("DJANGO_CSRF_COOKIE_SECURE", default=not DEBUG)
SECURE_HSTS_SECONDS = env.integer("DJANGO_SECURE_HSTS_SECONDS", default=0)
SECURE_HSTS_INCLUDE_SUBDOMAINS = env.boolean("DJANGO_SECURE_HSTS_INCLUDE_SUBDOMAINS", default=False)
SECURE_HSTS_PRELOAD = env.boolean("DJANGO_SECURE_HSTS_PRELOAD", default=False)
if env.boolean("DJANGO_BEHIND_TLS_PROXY", default=False):
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")

# https://docs.djangoproject.com/en/5.2/topics/logging/
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {
        "plain": {"format": "%(asctime)s %(levelname)s %(name)s [pid %(process)d] %(message)s"},
    },
    "handlers": {
        "stdout": {
            "class": "logging.StreamHandler",
            "stream": "ext://sys.stdout",
            "formatter": "plain",
        }
    },
    "root": {"handlers": ["stdout"], "level": env.choice("DJANGO_LOG_LEVEL", "INFO", LOG_LEVELS)},
    "loggers": {
        "django.db.backends": {"level": "WARNING"},
        # django-q2 adds a handler of its own when its logger has none; ours keeps one format.
        "django-q": {"handlers": ["stdout"], "propagate": False},
    },
}

# --- Delivery of reminders (SPEC §10); docs/delivery.md ---------------------------------------------
# https://django-environ.readthedocs.io/en/latest/types.html#environ-env-email-url
# The embedded default writes each email as an .eml file into sent-mail/, where a new user can open it.
# Files are for the demo and development only: with debug off, a sender refuses to start unless EMAIL_URL
# is set, to a mail server or explicitly to filemail:// (reminders.checks; check --deploy reports it).
_email = env.email_url("EMAIL_URL", default="filemail:///sent-mail", base_dir=BASE_DIR)
EMAIL_URL_IS_SET = "EMAIL_URL" in env.environ
EMAIL_BACKEND = _email["EMAIL_BACKEND"]
EMAIL_HOST = _email["EMAIL_HOST"]
EMAIL_PORT = _email["EMAIL_PORT"]
EMAIL_HOST_USER = _email["EMAIL_HOST_USER"]
EMAIL_HOST_PASSWORD = _email["EMAIL_HOST_PASSWORD"]
EMAIL_USE_TLS = _email["EMAIL_USE_TLS"]
EMAIL_USE_SSL = _email["EMAIL_USE_SSL"]
EMAIL_TIMEOUT = _email["EMAIL_TIMEOUT"]
EMAIL_FILE_PATH = _email["EMAIL_FILE_PATH"]
DEFAULT_FROM_EMAIL = env.email_address("DEFAULT_FROM_EMAIL", "Billing <billing@localhost>")
SERVER_EMAIL = DEFAULT_FROM_EMAIL
REMINDER_BCC = env.email_list("REMINDER_BCC")
REMINDER_MAX_ATTEMPTS = env.integer("REMINDER_MAX_ATTEMPTS", default=5, minimum=1, maximum=50)
REMINDER_SEND_CHUNK = env.integer("REMINDER_SEND_CHUNK", default=100, minimum=1, maximum=10000)
# One message per customer (a statement of its due reminders), or one per reminder.
REMINDER_GROUPING = env.matching(
    "REMINDER_GROUPING",
    "customer",
    re.compile(r"(customer|invoice)\Z"),
    "allowed values are customer, invoice",
)
# Mail connections one sender keeps busy at once, each sending its own chunk.
REMINDER_SEND_CONNECTIONS = env.integer("REMINDER_SEND_CONNECTIONS", default=2, minimum=1, maximum=16)
# A chunk must be sent within its lease, or another sender may claim (and send) it again.
REMINDER_LEASE_SECONDS = env.integer("REMINDER_LEASE_SECONDS", default=300, minimum=1)
REMINDER_RETRY_BASE_SECONDS = env.integer("REMINDER_RETRY_BASE_SECONDS", default=60, minimum=0)
REMINDER_SEND_SCHEDULE_MINUTES = env.integer("REMINDER_SEND_SCHEDULE_MINUTES", default=5, minimum=1)
# When reminders may go out (SPEC §13), in TIME_ZONE, public holidays of REMINDER_HOLIDAYS left out.
REMINDER_SEND_WINDOW = env.text("REMINDER_SEND_WINDOW", "always")
REMINDER_HOLIDAYS = env.text("REMINDER_HOLIDAYS", "")
if _window_problems := window_problems(REMINDER_SEND_WINDOW, REMINDER_HOLIDAYS):
    env.problems.extend(_window_problems)
    REMINDER_SEND_WINDOW, REMINDER_HOLIDAYS = "always", ""  # only so that the check can report them

# --- A provider's API and what it reports back (SPEC §14); docs/delivery.md "Providers" ------------------
# https://anymail.dev/en/stable/installation/#anymail-settings-reference
# EMAIL_URL=anymail://postmark chooses anymail's backend for the provider; every ANYMAIL_<NAME> variable
# is anymail's setting <NAME> (ANYMAIL_POSTMARK_SERVER_TOKEN, ANYMAIL_WEBHOOK_SECRET, …). No defaults:
# they are secrets.
ANYMAIL = env.anymail()

# Webhooks (docs/webhooks.md): events signed per Standard Webhooks, sent to the endpoints in the admin.
WEBHOOK_ALLOW_PRIVATE = env.boolean("WEBHOOK_ALLOW_PRIVATE", default=False)
WEBHOOK_MAX_ATTEMPTS = env.integer("WEBHOOK_MAX_ATTEMPTS", default=8, minimum=1, maximum=50)
WEBHOOK_RETRY_BASE_SECONDS = env.integer("WEBHOOK_RETRY_BASE_SECONDS", default=60, minimum=0)
WEBHOOK_TIMEOUT_SECONDS = env.integer("WEBHOOK_TIMEOUT_SECONDS", default=10, minimum=1, maximum=60)
WEBHOOK_DISABLE_AFTER = env.integer("WEBHOOK_DISABLE_AFTER", default=20, minimum=1, maximum=10000)
WEBHOOK_LEASE_SECONDS = env.integer("WEBHOOK_LEASE_SECONDS", default=300, minimum=1)
WEBHOOK_SEND_SCHEDULE_MINUTES = env.integer("WEBHOOK_SEND_SCHEDULE_MINUTES", default=1, minimum=1)

# Every invalid variable above, each naming the variable, its value and what is allowed.
CONFIGURATION_PROBLEMS = env.problems

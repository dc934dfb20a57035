"""Settings shared by every environment, read from the environment with django-environ.

With no DATABASE_URL and no CELERY_BROKER_URL the portal runs on an embedded default
(SQLite, Celery tasks executed in-process) so that the demo needs nothing installed.
"""

from pathlib import Path

import environ

BASE_DIR = Path(__file__).resolve().parent.parent.parent

env = environ.Env()
env.read_env(BASE_DIR / ".env", overwrite=False) if (
    BASE_DIR / ".env"
).exists() else None

DEBUG = env.bool("DJANGO_DEBUG", default=False)
SECRET_KEY = env("DJANGO_SECRET_KEY")
ALLOWED_HOSTS = env.list("DJANGO_ALLOWED_HOSTS", default=["127.0.0.1", "localhost"])
CSRF_TRUSTED_ORIGINS = env.list("DJANGO_CSRF_TRUSTED_ORIGINS", default=[])

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "django.contrib.humanize",
    "campaigns",
    "eligibility",
    "gifts",
    "messaging",
    "callcenter",
    "fulfilment",
    "visits",
    "servicerequests",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.locale.LocaleMiddleware",
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
                "django.template.context_processors.i18n",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ],
        },
    },
]

DATABASES = {
    "default": env.db("DATABASE_URL", default=f"sqlite:///{BASE_DIR / 'db.sqlite3'}"),
}
DATABASES["default"]["ATOMIC_REQUESTS"] = False
# Connections are kept between requests: PostgreSQL forks a backend per connection,
# and under a burst of gift-site logins or gateway delivery reports opening one per
# request costs more than the request itself. Health checks drop a broken one.
DATABASES["default"]["CONN_MAX_AGE"] = env.int("DATABASE_CONN_MAX_AGE", default=60)
DATABASES["default"]["CONN_HEALTH_CHECKS"] = True
if DATABASES["default"]["ENGINE"] == "django.db.backends.postgresql":
    # The same backend, whose health check skips the SELECT 1 round trip when the
    # connection's socket shows nothing wrong (config/postgresql/base.py).
    DATABASES["default"]["ENGINE"] = "config.postgresql"
if DATABASES["default"]["ENGINE"].endswith("sqlite3"):
    # The demo's Celery runs in-process, so one writer at a time is plenty; WAL lets
    # the progress page read while an import writes.
    DATABASES["default"].setdefault("OPTIONS", {})
    DATABASES["default"]["OPTIONS"].update(
        {"timeout": 30, "init_command": "PRAGMA journal_mode=WAL;"}
    )
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
]

# Vietnamese first, English available; dd/mm/yyyy and 500.000 đ come from
# config/formats.
LANGUAGE_CODE = "vi"
LANGUAGES = [("vi", "Tiếng Việt"), ("en", "English")]
LOCALE_PATHS = [BASE_DIR / "locale"]
TIME_ZONE = "Asia/Ho_Chi_Minh"
USE_I18N = True
USE_TZ = True
USE_THOUSAND_SEPARATOR = True
FORMAT_MODULE_PATH = ["config.formats"]

STATIC_URL = "static/"
STATIC_ROOT = BASE_DIR / "staticfiles"
STATICFILES_DIRS = [BASE_DIR / "static"]
MEDIA_URL = "media/"
MEDIA_ROOT = Path(env("DJANGO_MEDIA_ROOT", default=str(BASE_DIR / "media")))
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "whitenoise.storage.CompressedStaticFilesStorage"},
}

# Uploads of snapshot files can be hundreds of MB: stream them to disk, never to memory.
FILE_UPLOAD_MAX_MEMORY_SIZE = 2 * 1024 * 1024
DATA_UPLOAD_MAX_MEMORY_SIZE = 10 * 1024 * 1024

LOGIN_URL = "admin:login"

# --- Celery -------------------------------------------------------------------------
CELERY_BROKER_URL = env("CELERY_BROKER_URL", default=None)
# No broker configured: the embedded default runs tasks in the calling process.
CELERY_TASK_ALWAYS_EAGER = CELERY_BROKER_URL is None
CELERY_TASK_EAGER_PROPAGATES = True
CELERY_RESULT_BACKEND = None
CELERY_TASK_IGNORE_RESULT = True
CELERY_TIMEZONE = TIME_ZONE
CELERY_TASK_SERIALIZER = "json"
CELERY_ACCEPT_CONTENT = ["json"]
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True

# --- Cache ----------------------------------------------------------------------------
REDIS_URL = env("REDIS_URL", default=None)
if REDIS_URL:
    CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": REDIS_URL,
        }
    }
else:
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}

# --- Subscriber data imports ------------------------------------------------------------
# An XLSX is a zip archive: refuse it before parsing if it would inflate past these.
IMPORT_XLSX_MAX_ENTRIES = env.int("IMPORT_XLSX_MAX_ENTRIES", default=2000)
IMPORT_XLSX_MAX_TOTAL_BYTES = env.int(
    "IMPORT_XLSX_MAX_TOTAL_BYTES", default=2 * 1024**3
)
IMPORT_XLSX_MAX_ENTRY_BYTES = env.int(
    "IMPORT_XLSX_MAX_ENTRY_BYTES", default=1536 * 1024**2
)
IMPORT_XLSX_MAX_RATIO = env.int("IMPORT_XLSX_MAX_RATIO", default=200)
IMPORT_MAX_UPLOAD_BYTES = env.int("IMPORT_MAX_UPLOAD_BYTES", default=1024**3)
# calamine reserves memory for the rectangle between the first and last used cell.
IMPORT_XLSX_MAX_CELLS = env.int("IMPORT_XLSX_MAX_CELLS", default=64 * 1_048_576)
# Processor time the child process that parses a sheet may use: a full sheet of 64
# columns takes calamine about a minute.
IMPORT_XLSX_READER_CPU_SECONDS = env.int("IMPORT_XLSX_READER_CPU_SECONDS", default=600)
# A sheet whose XML is at least this large is parsed in two halves at once, one per
# core: 100.000 rows of 30 columns are 157 MB. Smaller sheets gain less than a
# second child costs to start.
IMPORT_XLSX_SPLIT_BYTES = env.int("IMPORT_XLSX_SPLIT_BYTES", default=32 * 1024**2)

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"console": {"class": "logging.StreamHandler"}},
    "root": {"handlers": ["console"], "level": env("DJANGO_LOG_LEVEL", default="INFO")},
}

# --- Gift site ------------------------------------------------------------------------
# Invitation passwords are stored as HMAC-SHA256 keyed with this pepper (SECRET_KEY when
# unset). Set it apart in production: then rotating SECRET_KEY keeps open invitations
# working, and a leak of one secret alone does not let anyone check guesses offline.
GIFTS_PASSWORD_PEPPER = env("GIFTS_PASSWORD_PEPPER", default="")
# Five wrong passwords lock an invitation for 15 minutes; each further wrong password
# doubles the lock, up to a day (README "Security" has the arithmetic).
GIFTS_LOGIN_MAX_FAILURES = env.int("GIFTS_LOGIN_MAX_FAILURES", default=5)
GIFTS_LOCKOUT_MINUTES = env.int("GIFTS_LOCKOUT_MINUTES", default=15)
GIFTS_LOCKOUT_MAX_MINUTES = env.int("GIFTS_LOCKOUT_MAX_MINUTES", default=24 * 60)
# After its deadline a password still shows the choice and its delivery this long.
GIFTS_LOGIN_DAYS_AFTER_DEADLINE = env.int("GIFTS_LOGIN_DAYS_AFTER_DEADLINE", default=30)
# Carrier-grade NAT puts thousands of subscribers behind one address: throttle an
# address for a minute past this many failures, never lock it out.
GIFTS_IP_FAILURES_PER_MINUTE = env.int("GIFTS_IP_FAILURES_PER_MINUTE", default=300)
GIFTS_FAILURE_ALARM_PER_MINUTE = env.int("GIFTS_FAILURE_ALARM_PER_MINUTE", default=200)
# The META key of the client address when behind a proxy, e.g. HTTP_X_FORWARDED_FOR.
GIFTS_CLIENT_IP_HEADER = env("GIFTS_CLIENT_IP_HEADER", default="")
# Customer sessions: in the cache, own cookie, 15 minutes idle, 1 hour at most.
GIFTS_SESSION_COOKIE_NAME = "qua_session"
GIFTS_SESSION_COOKIE_PATH = "/qua/"
GIFTS_SESSION_IDLE_SECONDS = env.int("GIFTS_SESSION_IDLE_SECONDS", default=15 * 60)
GIFTS_SESSION_MAX_SECONDS = env.int("GIFTS_SESSION_MAX_SECONDS", default=60 * 60)
GIFTS_HOTLINE = "9090"
# Each server process reads a campaign's catalogue again at most this often; the
# stock itself is only ever decided by the database when a gift is chosen.
GIFTS_CATALOGUE_SECONDS = env.float("GIFTS_CATALOGUE_SECONDS", default=2.0)
# A bare view reading one row, served only to the benchmark (bench/giftsite.py).
GIFTS_BENCH_VIEW = env.bool("GIFTS_BENCH_VIEW", default=False)

# --- Messaging ---------------------------------------------------------------------------
# The gateway backend, like EMAIL_BACKEND: database (demo: logs, reports delivered),
# locmem (tests), kannel (sendsms HTTP + dlr-url), smpp (smpplib).
MESSAGING_BACKEND = env(
    "MESSAGING_BACKEND", default="messaging.backends.database.DatabaseBackend"
)
MESSAGING_DEFAULT_SENDER = env("MESSAGING_DEFAULT_SENDER", default="MobiFone")
# The gateway's cap, shared by every dispatch worker through Redis.
MESSAGING_RATE_PER_SECOND = env.float("MESSAGING_RATE_PER_SECOND", default=50.0)
MESSAGING_RATE_KEY = env("MESSAGING_RATE_KEY", default="messaging:rate:gateway")
MESSAGING_REDIS_URL = env(
    "MESSAGING_REDIS_URL", default=REDIS_URL or CELERY_BROKER_URL or ""
)
MESSAGING_BATCH_SIZE = env.int("MESSAGING_BATCH_SIZE", default=200)
MESSAGING_MAX_ATTEMPTS = env.int("MESSAGING_MAX_ATTEMPTS", default=5)
MESSAGING_RETRY_BACKOFF_SECONDS = env.int("MESSAGING_RETRY_BACKOFF_SECONDS", default=60)
MESSAGING_KILL_SWITCH_CHECK_SECONDS = 1.0
MESSAGING_SWEEP_SECONDS = env.int("MESSAGING_SWEEP_SECONDS", default=50)
# Only where PostgreSQL's advisory locks are missing (SQLite): a claimed batch older
# than this is taken to belong to a dead worker.
MESSAGING_CLAIM_LEASE_SECONDS = env.int("MESSAGING_CLAIM_LEASE_SECONDS", default=600)
# Credential in the dlr-url and MO URL the gateway calls; required to accept them.
MESSAGING_GATEWAY_TOKEN = env("MESSAGING_GATEWAY_TOKEN", default="")
# base64 of 32 bytes; empty: derived from SECRET_KEY (see messaging/sealing.py).
MESSAGING_SEAL_KEY = env("MESSAGING_SEAL_KEY", default="")
MESSAGING_KANNEL = {
    "SENDSMS_URL": env(
        "MESSAGING_KANNEL_SENDSMS_URL", default="http://127.0.0.1:13013/cgi-bin/sendsms"
    ),
    "USERNAME": env("MESSAGING_KANNEL_USERNAME", default="cskh"),
    "PASSWORD": env("MESSAGING_KANNEL_PASSWORD", default=""),
    "CALLBACK_BASE_URL": env(
        "MESSAGING_KANNEL_CALLBACK_BASE_URL", default="http://127.0.0.1:8000"
    ),
    "SMSC": env("MESSAGING_KANNEL_SMSC", default=""),
    "TIMEOUT": env.float("MESSAGING_KANNEL_TIMEOUT", default=10.0),
    # Submissions each dispatch worker keeps in flight: Kannel answers in a few ms
    # but one at a time would leave most of the rate cap unused.
    "POOL_SIZE": env.int("MESSAGING_KANNEL_POOL_SIZE", default=32),
}
# Zalo notifications (ZNS): Zalo-channel messages whose template names an approved
# ZNS template go to Zalo's API; without an access token they all wait on the
# agents' Zalo work list.
MESSAGING_ZALO_BACKEND = env(
    "MESSAGING_ZALO_BACKEND", default="messaging.backends.zalo.ZaloZnsBackend"
)
MESSAGING_ZALO = {
    "ZNS_URL": env(
        "MESSAGING_ZALO_ZNS_URL",
        default="https://business.openapi.zalo.me/message/template",
    ),
    # The first access token only: once a token pair is stored in the admin (Zalo OA
    # tokens), the stored one is used and refreshed automatically with the app's id
    # and secret below.
    "ACCESS_TOKEN": env("MESSAGING_ZALO_ACCESS_TOKEN", default=""),
    "APP_ID": env("MESSAGING_ZALO_APP_ID", default=""),
    "APP_SECRET": env("MESSAGING_ZALO_APP_SECRET", default=""),
    "OAUTH_URL": env(
        "MESSAGING_ZALO_OAUTH_URL",
        default="https://oauth.zaloapp.com/v4/oa/access_token",
    ),
    "TIMEOUT": env.float("MESSAGING_ZALO_TIMEOUT", default=10.0),
    "POOL_SIZE": env.int("MESSAGING_ZALO_POOL_SIZE", default=4),
    # ZNS's own cap, apart from the SMS gateway's (its limiter has a key of its own).
    "RATE_PER_SECOND": env.float("MESSAGING_ZALO_RATE_PER_SECOND", default=10.0),
}
MESSAGING_SMPP = {
    "HOST": env("MESSAGING_SMPP_HOST", default="127.0.0.1"),
    "PORT": env.int("MESSAGING_SMPP_PORT", default=2775),
    "SYSTEM_ID": env("MESSAGING_SMPP_SYSTEM_ID", default="cskh"),
    "PASSWORD": env("MESSAGING_SMPP_PASSWORD", default=""),
    "SYSTEM_TYPE": env("MESSAGING_SMPP_SYSTEM_TYPE", default=""),
    "BIND": env("MESSAGING_SMPP_BIND", default="transceiver"),
}

# --- Periodic jobs (Celery beat) ----------------------------------------------------------
# Every sweep is idempotent and finds its work in the database; beat only wakes it up,
# so a missed or doubled tick changes nothing.
CELERY_BEAT_SCHEDULE = {
    # The outbox: due and retried messages go to the gateway.
    "messaging-dispatch-due": {
        "task": "messaging.dispatch_due",
        "schedule": float(MESSAGING_SWEEP_SECONDS),
    },
    # Zalo messages go to ZNS in a run of their own (a no-op without an access token).
    "messaging-dispatch-due-zalo": {
        "task": "messaging.dispatch_due",
        "schedule": float(MESSAGING_SWEEP_SECONDS),
        "args": ("zalo",),
    },
    # The Zalo OA access token is renewed when it expires within the hour (a no-op
    # without a stored refresh token).
    "messaging-zalo-token-refresh": {
        "task": "messaging.zalo_token_refresh_due",
        "schedule": 600.0,
    },
    # Invitations past their deadline are settled (gift auto-assigned or expired).
    "gifts-invitations-close-due": {
        "task": "gifts.invitations_close_due_all",
        "schedule": 600.0,
    },
    # Closed choice windows release their orders to the partners.
    "fulfilment-orders-release": {
        "task": "fulfilment.orders_release_all",
        "schedule": 900.0,
    },
    # Failed deliveries nobody answered by the reply date are recorded as declined.
    "fulfilment-orders-decline-unanswered": {
        "task": "fulfilment.orders_decline_unanswered",
        "schedule": 3600.0,
    },
    # Callbacks whose time has come go back to the top of their agent's queue.
    "callcenter-callbacks-sweep": {
        "task": "callcenter.callbacks_sweep",
        "schedule": 60.0,
    },
    # Trip seats not confirmed by their deadline go to the next on the ranked list.
    "visits-trip-invitations-expire": {
        "task": "visits.trip_invitations_expire",
        "schedule": 3600.0,
    },
}

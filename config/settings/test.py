"""The test suite: real PostgreSQL and Redis on 127.0.0.1 unless the environment says otherwise."""

import os

os.environ.setdefault("DJANGO_SECRET_KEY", "test-only-not-secret")
os.environ.setdefault("DATABASE_URL", "postgres://postgres@127.0.0.1:5432/cskh")
os.environ.setdefault("CELERY_BROKER_URL", "redis://127.0.0.1:6379/0")
os.environ.setdefault("REDIS_URL", "redis://127.0.0.1:6379/1")

from .base import *  # noqa: E402,F403
from .base import BASE_DIR

# Tests exercise the real broker through a worker they start; never emulate it.
CELERY_TASK_ALWAYS_EAGER = False
# A queue of this run's own: another run on the same Redis (a developer's, CI's) must
# not take its tasks, nor leave stale ones in its way.
CELERY_TASK_DEFAULT_QUEUE = f"cskh-test-{os.getpid()}"
PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
MEDIA_ROOT = BASE_DIR / "var" / "test-media"
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
}

# Static files come from the apps through django.contrib.staticfiles here; WhiteNoise
# serves the collected files in production only.
MIDDLEWARE = [m for m in MIDDLEWARE if not m.startswith("whitenoise")]  # noqa: F405

# Messaging: the in-memory gateway unless a test (or its subprocess) says otherwise.
MESSAGING_BACKEND = env(  # noqa: F405
    "MESSAGING_BACKEND", default="messaging.backends.locmem.LocmemBackend"
)
MESSAGING_GATEWAY_TOKEN = env("MESSAGING_GATEWAY_TOKEN", default="test-gateway-token")  # noqa: F405
MESSAGING_RATE_KEY = env("MESSAGING_RATE_KEY", default=f"cskh-test-{os.getpid()}:rate")  # noqa: F405
# Zalo: the agents' work list unless a test configures ZNS (a developer's real token
# in .env must never reach a test).
MESSAGING_ZALO = {  # noqa: F405
    **MESSAGING_ZALO,  # noqa: F405
    "ACCESS_TOKEN": "",
    "APP_ID": "",
    "APP_SECRET": "",
}

"""The demo and development: debug on, a throwaway secret key."""

import os

os.environ.setdefault("DJANGO_SECRET_KEY", "local-only-not-secret")
os.environ.setdefault("DJANGO_DEBUG", "true")

from .base import *  # noqa: E402,F403

# Static files come from the apps through django.contrib.staticfiles here; WhiteNoise
# serves the collected files in production only.
MIDDLEWARE = [m for m in MIDDLEWARE if not m.startswith("whitenoise")]  # noqa: F405

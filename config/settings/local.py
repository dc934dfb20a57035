"""The demo and development: debug on, a throwaway secret key."""

import os

os.environ.setdefault("DJANGO_SECRET_KEY", "local-only-not-secret")
os.environ.setdefault("DJANGO_DEBUG", "true")

from .base import *  # noqa: E402,F403

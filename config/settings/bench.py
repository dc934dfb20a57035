"""Benchmarks: PostgreSQL in a database of their own, services called directly."""

import os

os.environ.setdefault("DJANGO_SECRET_KEY", "bench-only-not-secret")
os.environ.setdefault("DATABASE_URL", "postgres://postgres@127.0.0.1:5432/cskh_bench")

from .base import *  # noqa: E402,F403
from .base import BASE_DIR

DEBUG = False
MEDIA_ROOT = BASE_DIR / "var" / "bench-media"

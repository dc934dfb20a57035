"""Refuse to start the suite when PostgreSQL or Redis cannot be reached: never skip."""

import os
import sys


def main() -> int:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings.test")
    import django

    django.setup()
    import redis
    from django.conf import settings
    from django.db import connection

    problems = []
    try:
        connection.ensure_connection()
        if connection.vendor != "postgresql":
            problems.append(
                f"DATABASE_URL points at {connection.vendor}, not PostgreSQL"
            )
    except Exception as exc:  # noqa: BLE001 - any failure is reported the same way
        problems.append(
            f"PostgreSQL at {settings.DATABASES['default'].get('HOST')}: {exc}"
        )
    try:
        redis.Redis.from_url(settings.CELERY_BROKER_URL, socket_timeout=5).ping()
    except Exception as exc:  # noqa: BLE001
        problems.append(f"Redis at {settings.CELERY_BROKER_URL}: {exc}")
    for problem in problems:
        print(f"Cannot run the tests: {problem}", file=sys.stderr)
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())

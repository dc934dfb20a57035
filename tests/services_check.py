"""Refuse to start the suite when PostgreSQL or Redis cannot be reached: never skip."""

import os
import sys


def main() -> int:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings.test")
    import django

    django.setup()
    import psycopg
    import redis
    from django.conf import settings

    problems = []
    database = settings.DATABASES["default"]
    if not database["ENGINE"].endswith("postgresql"):
        problems.append(f"DATABASE_URL points at {database['ENGINE']}, not PostgreSQL")
    else:
        # The suite creates its own test database, so the server is what must answer.
        try:
            psycopg.connect(
                host=database["HOST"] or "127.0.0.1",
                port=database["PORT"] or 5432,
                user=database["USER"] or None,
                password=database["PASSWORD"] or None,
                dbname="postgres",
                connect_timeout=5,
            ).close()
        except psycopg.Error as exc:
            problems.append(
                f"PostgreSQL at {database['HOST']}:{database['PORT']}: {exc}"
            )
    try:
        redis.Redis.from_url(settings.CELERY_BROKER_URL, socket_timeout=5).ping()
    except redis.RedisError as exc:
        problems.append(f"Redis at {settings.CELERY_BROKER_URL}: {exc}")
    for problem in problems:
        print(f"Cannot run the tests: {problem}", file=sys.stderr)
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())

"""What every benchmark needs: its own database, a cache of generated files, a clock."""

import resource
import threading
import time
from contextlib import contextmanager
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
CACHE = ROOT / "var" / "bench-data"


def setup_django() -> None:
    import django
    import psycopg
    from django.conf import settings

    database = settings.DATABASES["default"]
    if database["ENGINE"].endswith("postgresql"):
        admin_dsn = (
            f"host={database['HOST'] or '127.0.0.1'} port={database['PORT'] or 5432} "
            f"user={database['USER'] or 'postgres'} dbname=postgres"
        )
        with psycopg.connect(admin_dsn, autocommit=True) as conn:
            exists = conn.execute(
                "SELECT 1 FROM pg_database WHERE datname = %s", [database["NAME"]]
            ).fetchone()
            if not exists:
                conn.execute(f'CREATE DATABASE "{database["NAME"]}"')
    django.setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0)


@contextmanager
def timed(label: str, results: dict):
    start = time.perf_counter()
    yield
    results[label] = time.perf_counter() - start
    print(f"  {label}: {results[label]:.2f} s", flush=True)


class PeakMemory:
    """Samples this process's resident memory while a block runs."""

    def __init__(self):
        import psutil

        self.process = psutil.Process()
        self.peak = 0
        self._stop = threading.Event()

    def _sample(self):
        while not self._stop.is_set():
            self.peak = max(self.peak, self.process.memory_info().rss)
            self._stop.wait(0.05)

    def __enter__(self):
        self.peak = self.process.memory_info().rss
        self._thread = threading.Thread(target=self._sample, daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        self._thread.join()

    @property
    def peak_mb(self) -> float:
        return round(self.peak / 1024**2, 1)


def max_rss_mb() -> float:
    return round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)


def machine() -> str:
    import os
    import platform

    return (
        f"{platform.node()} {os.cpu_count()} cores, Python {platform.python_version()}"
    )

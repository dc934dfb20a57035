"""What one Kannel delivery report costs the web process, measured in-process.

`python -m bench.gateway_callbacks [--requests 2000] [--full-stack] [--profile]`

Not one of `python -m bench`'s benchmarks (no baseline, no target): a quick figure
for work on the gateway callbacks. It writes `requests` submitted messages to the
outbox, then hands one DLR per message to `config.wsgi.application` (the object
gunicorn serves) with the environ gunicorn would build, closing each response as
gunicorn does, and prints milliseconds per request: wall time, this process's CPU
time, and the CPU time of the PostgreSQL backend serving it (on the 2-core server
both come out of the same budget). `--full-stack` sends the same requests through
Django's plain handler with every middleware of settings.MIDDLEWARE, as gunicorn
served them before `config.wsgi` routed the callbacks apart (the database backend and
its health check are the configured ones either way). `--profile` prints the `--top`
functions by `--sort` (cProfile's keys).

Uses PostgreSQL in a database of its own, `cskh_bench_callbacks` on 127.0.0.1
(`DATABASE_URL` overrides it), never the benchmarks' `cskh_bench`: it empties the
outbox first.
"""

from __future__ import annotations

import argparse
import io
import os
import sys
import time
from urllib.parse import urlencode

import psutil

TOKEN = "bench-callbacks-token"
CAMPAIGN = "bench-gateway-callbacks"
WARM_UP = 200


def _environ(path: str, query: str) -> dict:
    """The environ gunicorn builds for Kannel's GET (HTTP/1.1, no body)."""
    return {
        "REQUEST_METHOD": "GET",
        "SCRIPT_NAME": "",
        "PATH_INFO": path,
        "QUERY_STRING": query,
        "RAW_URI": f"{path}?{query}",
        "SERVER_NAME": "127.0.0.1",
        "SERVER_PORT": "8000",
        "SERVER_PROTOCOL": "HTTP/1.1",
        "REMOTE_ADDR": "127.0.0.1",
        "REMOTE_PORT": "40000",
        "HTTP_HOST": "127.0.0.1:8000",
        "HTTP_USER_AGENT": "Kannel/1.4.5",
        "HTTP_CONNECTION": "keep-alive",
        "wsgi.version": (1, 0),
        "wsgi.url_scheme": "http",
        "wsgi.input": io.BytesIO(b""),
        "wsgi.errors": sys.stderr,
        "wsgi.multithread": True,
        "wsgi.multiprocess": True,
        "wsgi.run_once": False,
    }


def _submitted_messages(count: int) -> list[int]:
    from django.db import transaction
    from django.utils import timezone

    from bench.messaging import SHORT_INVITATION, _campaign, _recipients, _reset
    from messaging import services
    from messaging.models import Message

    _reset()
    campaign = _campaign(CAMPAIGN, SHORT_INVITATION, 1)
    with transaction.atomic():
        services.messages_enqueue_bulk(
            campaign=campaign,
            purpose="invitation",
            recipients=_recipients(count, "8492"),
        )
    messages = Message.objects.filter(campaign=campaign)
    messages.update(status="submitted", submitted_at=timezone.now())
    return list(messages.order_by("pk").values_list("pk", flat=True))


def _environ_of_report(path: str, message_id: int) -> dict:
    """Kannel's DLR for `message_id`: delivered, with the fake SMSC's part id and reply."""
    query = urlencode(
        {
            "token": TOKEN,
            "ref": message_id,
            "type": "1",
            "part": f"{message_id:08x}",
            "reply": "ACK/",
        }
    )
    return _environ(path, query)


def _deliver(application, environ: dict) -> None:
    answer = []
    body = application(environ, lambda status, headers: answer.append(status))
    try:
        b"".join(body)
    finally:
        # gunicorn closes every response: that sends request_finished.
        body.close()
    if answer != ["200 OK"]:
        raise SystemExit(f"DLR {environ['QUERY_STRING']} answered {answer}")


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.gateway_callbacks")
    parser.add_argument("--requests", type=int, default=2000)
    parser.add_argument("--full-stack", action="store_true")
    parser.add_argument("--profile", action="store_true")
    parser.add_argument("--sort", default="cumulative")
    parser.add_argument("--top", type=int, default=25)
    args = parser.parse_args(argv)

    os.environ["DJANGO_SETTINGS_MODULE"] = "config.settings.bench"
    os.environ.setdefault(
        "DATABASE_URL", "postgres://postgres@127.0.0.1:5432/cskh_bench_callbacks"
    )
    os.environ["MESSAGING_GATEWAY_TOKEN"] = TOKEN
    from bench import common

    common.setup_django()
    from django.db import connection
    from django.urls import reverse

    from messaging.models import Message

    if args.full_stack:
        from django.core.wsgi import get_wsgi_application

        application = get_wsgi_application()
    else:
        from config.wsgi import application

    ids = _submitted_messages(WARM_UP + args.requests)
    # The set-up's connection is not the one a gunicorn thread would hold.
    connection.close()
    path = reverse("messaging:kannel_dlr")
    # Built beforehand: what the WSGI server does is not measured.
    reports = [_environ_of_report(path, message_id) for message_id in ids]
    for environ in reports[:WARM_UP]:
        _deliver(application, environ)
    # The requests ran in this thread: its connection is the one they use.
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_backend_pid()")
        backend = psutil.Process(cursor.fetchone()[0])
    measured = ids[WARM_UP:]
    profiler = None
    if args.profile:
        import cProfile

        profiler = cProfile.Profile()
        profiler.enable()
    database_cpu = sum(backend.cpu_times()[:2])
    wall, cpu = time.perf_counter(), time.process_time()
    for environ in reports[WARM_UP:]:
        _deliver(application, environ)
    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    database_cpu = sum(backend.cpu_times()[:2]) - database_cpu
    if profiler is not None:
        import pstats

        profiler.disable()
        pstats.Stats(profiler).sort_stats(args.sort).print_stats(args.top)
    delivered = Message.objects.filter(pk__in=measured, status="delivered").count()
    per_request = 1000 / len(measured)
    print(
        f"{len(measured):,} DLRs through "
        f"{'the full middleware stack' if args.full_stack else 'config.wsgi'}, "
        f"ms per request: wall {wall * per_request:.3f}, CPU here "
        f"{cpu * per_request:.3f}, CPU in PostgreSQL {database_cpu * per_request:.3f}; "
        f"{delivered:,} messages delivered"
    )
    return 0 if delivered == len(measured) else 1


if __name__ == "__main__":
    sys.exit(main())

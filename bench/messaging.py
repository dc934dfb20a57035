"""`python -m bench messaging`: the outbox's bulk enqueue, then dispatch through Kannel.

Part 1: N invitation messages (programme 000's text, password sealed) rendered and
written to the outbox by `messages_enqueue_bulk`, against a bare `COPY` of the very
same rows into a table with no index or constraint. Target: at most 2x.

Part 2: M short invitations dispatched through a real Kannel (bearerbox + smsbox +
fakesmsc, started here) by three `messaging_dispatch` worker processes sharing the
Redis limiter set to 500 msg/s, with delivery reports going back to the portal under
gunicorn. Target: at least 90% of the cap sustained; every message reaches the fake
SMSC (loss and duplicates counted there).
"""

from __future__ import annotations

import os
import random
import subprocess
import sys
import time
from collections import Counter
from datetime import datetime

from bench.common import ROOT, machine, timed

ENQUEUE_TARGET = 2.0
RATE = 500
RATE_TARGET = 0.9
WORKERS = 3

INVITATION = (
    "Quà tặng hấp dẫn trị giá 500.000 đồng thay lời cảm ơn từ MobiFone tới Quý khách "
    "hàng đã đồng hành cùng MobiFone trong suốt thời gian vừa qua. Kính mời Quý khách "
    "truy cập địa chỉ http://cskh.mobifone.vn với mật khẩu {password} trước "
    "{deadline} để lựa chọn quà tặng. Chi tiết liên hệ 9090. Trân trọng cảm ơn"
)
SHORT_INVITATION = (
    "(CSKH) MobiFone moi Quy khach chon qua tai cskh.mobifone.vn, mat khau "
    "{password}, han {deadline}. LH 9090"
)


def _campaign(code: str, body: str, max_segments: int):
    from campaigns.models import Campaign
    from messaging.models import MessageTemplate, MessagingSettings

    Campaign.objects.filter(code=code).delete()
    campaign = Campaign.objects.create(code=code, name=code)
    MessagingSettings.objects.create(
        campaign=campaign,
        window_start=datetime.min.time(),
        window_end=datetime.max.time(),
    )
    MessageTemplate.objects.create(
        campaign=campaign,
        purpose="invitation",
        body=body,
        max_segments=max_segments,
        exempt_from_do_not_contact=True,
    )
    return campaign


def _recipients(count: int, prefix: str):
    rng = random.Random(7)
    for n in range(count):
        yield {
            "msisdn": f"{prefix}{n:07d}",
            "password": f"{rng.randrange(1_000_000):06d}",
            "deadline": "23:59 13/11/2022",
        }


def _reset() -> None:
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute(
            "TRUNCATE messaging_deliveryreport, messaging_messagingevent, "
            "messaging_message CASCADE"
        )
        cursor.execute("DROP TABLE IF EXISTS bench_raw_message")


def part_enqueue(size: int) -> dict:
    from django.db import connection, transaction

    from messaging import services
    from messaging.services import _COLUMNS

    campaign = _campaign("bench-messaging-enqueue", INVITATION, 3)
    times: dict[str, float] = {}
    print(f"Part 1: {size:,} invitations into the outbox", flush=True)
    with timed("product_enqueue", times):
        with transaction.atomic():
            result = services.messages_enqueue_bulk(
                campaign=campaign,
                purpose="invitation",
                recipients=_recipients(size, "8490"),
            )
    columns = ", ".join(_COLUMNS)
    with connection.cursor() as cursor:
        cursor.execute(
            f"CREATE TABLE bench_raw_message AS SELECT {columns} "
            "FROM messaging_message WITH NO DATA"
        )
        data = bytearray()
        with cursor.cursor.copy(
            f"COPY (SELECT {columns} FROM messaging_message "
            f"WHERE campaign_id = {campaign.pk}) TO STDOUT"
        ) as copy:
            while block := copy.read():
                data += block
        cursor.execute("CHECKPOINT")
    with timed("raw_copy", times):
        with transaction.atomic(), connection.cursor() as cursor:
            with cursor.cursor.copy(
                f"COPY bench_raw_message ({columns}) FROM STDIN"
            ) as copy:
                for start in range(0, len(data), 1 << 20):
                    copy.write(bytes(data[start : start + (1 << 20)]))
    with connection.cursor() as cursor:
        cursor.execute("SELECT count(*) FROM bench_raw_message")
        (raw_rows,) = cursor.fetchone()
    ratio = times["product_enqueue"] / times["raw_copy"]
    print(
        f"  written {result.written:,}, raw rows {raw_rows:,}; ratio {ratio:.2f}x "
        f"(target {ENQUEUE_TARGET}x)",
        flush=True,
    )
    return {
        "enqueue_rows": result.written,
        "enqueue_s": round(times["product_enqueue"], 2),
        "raw_copy_s": round(times["raw_copy"], 2),
        "enqueue_ratio": round(ratio, 2),
        "enqueue_ok": result.written == size == raw_rows and ratio <= ENQUEUE_TARGET,
    }


def _free_port() -> int:
    from messaging.kannel_runner import free_port

    return free_port()


def _gunicorn(port: int, env: dict) -> subprocess.Popen:
    return subprocess.Popen(
        [
            sys.executable,
            "-m",
            "gunicorn",
            "config.wsgi",
            "--bind",
            f"127.0.0.1:{port}",
            "--workers",
            "2",
            "--threads",
            "4",
            "--log-level",
            "warning",
        ],
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )


def _wait_port(port: int, timeout: float = 30) -> None:
    import socket

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1):
                return
        except OSError:
            time.sleep(0.2)
    raise RuntimeError(f"nothing listens on {port}")


def part_dispatch(count: int) -> dict:
    from django.conf import settings
    from django.db import transaction

    from messaging import kannel_runner, services
    from messaging.models import Message

    if not kannel_runner.installed():
        raise SystemExit("Kannel is needed: apt-get install kannel kannel-extras")
    # Part 1's rows are not sent: only this part's short invitations go out. They
    # are emptied out, not cancelled in place: an UPDATE of 100.000 rows here would
    # have autovacuum cleaning up after the bench in the middle of the measurement.
    _reset()
    campaign = _campaign("bench-messaging-dispatch", SHORT_INVITATION, 1)
    with transaction.atomic():
        services.messages_enqueue_bulk(
            campaign=campaign,
            purpose="invitation",
            recipients=_recipients(count, "8491"),
        )
    token = "bench-token"
    web_port = _free_port()
    base_url = f"http://127.0.0.1:{web_port}"
    kannel = kannel_runner.LocalKannel(
        mo_url=f"{base_url}/messaging/gateway/kannel/mo/", token=token, log_level=2
    )
    database = settings.DATABASES["default"]
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "config.settings.bench",
        "DATABASE_URL": (
            f"postgres://{database['USER'] or 'postgres'}@{database['HOST'] or '127.0.0.1'}"
            f":{database['PORT'] or 5432}/{database['NAME']}"
        ),
        "MESSAGING_GATEWAY_TOKEN": token,
        "MESSAGING_BACKEND": "messaging.backends.kannel.KannelBackend",
        "MESSAGING_RATE_PER_SECOND": str(RATE),
        "MESSAGING_RATE_KEY": f"bench:messaging:{os.getpid()}",
        "MESSAGING_REDIS_URL": os.environ.get(
            "MESSAGING_REDIS_URL", "redis://127.0.0.1:6379/0"
        ),
        "MESSAGING_BATCH_SIZE": "200",
    }
    print(
        f"Part 2: {count:,} invitations through Kannel, cap {RATE}/s, {WORKERS} workers",
        flush=True,
    )
    web = _gunicorn(web_port, env)
    workers = []
    try:
        _wait_port(web_port)
        kannel.start()
        settings_env = kannel.backend_settings(base_url)
        env.update(
            {
                "MESSAGING_KANNEL_SENDSMS_URL": settings_env["SENDSMS_URL"],
                "MESSAGING_KANNEL_USERNAME": settings_env["USERNAME"],
                "MESSAGING_KANNEL_PASSWORD": settings_env["PASSWORD"],
                "MESSAGING_KANNEL_CALLBACK_BASE_URL": base_url,
            }
        )
        started = time.perf_counter()
        workers = [
            subprocess.Popen(
                [sys.executable, "manage.py", "messaging_dispatch"],
                cwd=ROOT,
                env=env,
                stdout=subprocess.DEVNULL,
                stderr=open(kannel.folder / f"worker-{index}.log", "wb"),  # noqa: SIM115
            )
            for index in range(WORKERS)
        ]
        for worker in workers:
            worker.wait()
        dispatch_s = time.perf_counter() - started
        expected = {f"8491{n:07d}" for n in range(count)}
        deadline = time.monotonic() + 120
        arrived = Counter()
        while time.monotonic() < deadline:
            arrived = Counter(kannel.arrived_numbers())
            if expected <= set(arrived):
                break
            time.sleep(1)
        delivered_deadline = time.monotonic() + 120
        while time.monotonic() < delivered_deadline:
            delivered = Message.objects.filter(
                campaign=campaign, status="delivered"
            ).count()
            if delivered >= count:
                break
            time.sleep(1)
    finally:
        for worker in workers:
            if worker.poll() is None:
                worker.kill()
        kannel.stop()
        web.terminate()
        web.wait(timeout=30)

    stamps = sorted(
        Message.objects.filter(
            campaign=campaign, submitted_at__isnull=False
        ).values_list("submitted_at", flat=True)
    )
    submitted = len(stamps)
    span = (stamps[-1] - stamps[0]).total_seconds() if submitted > 1 else 0.0
    sustained = (submitted - 1) / span if span else 0.0
    # The busiest 60 s: the cap must hold over a minute, not just on average.
    seconds = [(stamp - stamps[0]).total_seconds() for stamp in stamps]
    busiest, left = 0, 0
    for right, second in enumerate(seconds):
        while second - seconds[left] > 60:
            left += 1
        busiest = max(busiest, right - left + 1)
    window = min(60.0, span) or 1.0
    busiest_rate = busiest / window
    lost = len(expected - set(arrived))
    duplicates = sum(n - 1 for n in arrived.values() if n > 1)
    print(
        f"  submitted {submitted:,} in {span:.1f} s: {sustained:.0f} msg/s sustained "
        f"(busiest minute {busiest_rate:.0f} msg/s); lost {lost}, duplicates "
        f"{duplicates}, delivery reports {delivered:,}/{count:,}",
        flush=True,
    )
    return {
        "dispatch_messages": count,
        "dispatch_s": round(dispatch_s, 1),
        "sustained_rate": round(sustained, 1),
        "busiest_minute_rate": round(busiest_rate, 1),
        "cap": RATE,
        "rate_ratio": round(sustained / RATE, 3),
        "lost": lost,
        "duplicates": duplicates,
        "delivered_reports": delivered,
        "dispatch_ok": sustained >= RATE * RATE_TARGET
        and busiest_rate <= RATE * 1.05
        and lost == 0
        and duplicates == 0,
    }


def run(size: int | None = None) -> dict:
    size = size or 100_000
    dispatch_count = min(size, 30_000)
    print(f"messaging benchmark, {size:,} messages; {machine()}", flush=True)
    _reset()
    enqueue = part_enqueue(size)
    dispatch = part_dispatch(dispatch_count)
    return {
        "name": "messaging",
        "ratio": enqueue["enqueue_ratio"],
        "target": ENQUEUE_TARGET,
        "ok": enqueue["enqueue_ok"] and dispatch["dispatch_ok"],
        "size": size,
        **enqueue,
        **dispatch,
    }

"""A dispatch worker killed mid-run and restarted: nothing lost, nothing doubled.

The worker is a real process (`manage.py messaging_dispatch --loop`) sending through
the real Kannel; the test kills it with SIGKILL while it is sending, starts a new
one, and reads what reached the SMSC.
"""

import os
import signal
import subprocess
import sys
from collections import Counter
from pathlib import Path

import pytest
from django.conf import settings as django_settings
from django.db import connection

from messaging import services
from messaging.models import Message
from tests.messaging.factories import MessageTemplateFactory
from tests.messaging.waiting import wait_until

ROOT = Path(__file__).resolve().parents[2]
COUNT = 300


def start_worker(kannel, live_server, rate_key) -> subprocess.Popen:
    database = connection.settings_dict
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "config.settings.test",
        "DATABASE_URL": (
            f"postgres://{database['USER']}@{database['HOST'] or '127.0.0.1'}:"
            f"{database['PORT'] or 5432}/{database['NAME']}"
        ),
        "MESSAGING_BACKEND": "messaging.backends.kannel.KannelBackend",
        "MESSAGING_KANNEL_SENDSMS_URL": kannel.sendsms_url,
        "MESSAGING_KANNEL_USERNAME": kannel.username,
        "MESSAGING_KANNEL_PASSWORD": kannel.password,
        "MESSAGING_KANNEL_CALLBACK_BASE_URL": live_server.url,
        "MESSAGING_GATEWAY_TOKEN": django_settings.MESSAGING_GATEWAY_TOKEN,
        "MESSAGING_RATE_PER_SECOND": "100",
        "MESSAGING_RATE_KEY": rate_key,
    }
    return subprocess.Popen(
        [
            sys.executable,
            "manage.py",
            "messaging_dispatch",
            "--loop",
            "--batch-size",
            "25",
            "--poll",
            "0.2",
        ],
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )


@pytest.mark.django_db(transaction=True)
def test_killed_worker_loses_nothing_and_repeats_only_its_batch_in_flight(
    campaign, kannel, live_server, settings
):
    MessageTemplateFactory(
        campaign=campaign, purpose="points", body="Quy khach co {points} diem"
    )
    numbers = [f"0906{n:06d}" for n in range(COUNT)]
    services.messages_enqueue_bulk(
        campaign=campaign,
        purpose="points",
        recipients=({"msisdn": number, "points": 10} for number in numbers),
    )
    expected = {"84" + number[1:] for number in numbers}
    before = Counter(kannel.arrived_numbers())
    rate_key = f"{settings.MESSAGING_RATE_KEY}:fault"

    worker = start_worker(kannel, live_server, rate_key)
    try:
        # Killed while it holds a claimed batch: the case where a resend can happen.
        wait_until(
            lambda: (
                Message.objects.filter(status__in=["submitted", "delivered"]).count()
                >= COUNT // 3
                and Message.objects.filter(status="claimed").exists()
            ),
            what="the first worker to be well into the run, with a batch in hand",
        )
        worker.send_signal(signal.SIGKILL)
        worker.wait()
    finally:
        if worker.poll() is None:
            worker.kill()
    in_flight = set(
        Message.objects.filter(status="claimed").values_list("msisdn", flat=True)
    )
    assert 0 < len(in_flight) <= 25
    assert Message.objects.filter(status="queued").exists()

    worker = start_worker(kannel, live_server, rate_key)
    try:
        wait_until(
            lambda: (
                not Message.objects.filter(status__in=["queued", "claimed"]).exists()
            ),
            timeout=120,
            what="the second worker to send the rest",
        )
    finally:
        worker.send_signal(signal.SIGTERM)
        worker.wait(timeout=30)

    arrived = wait_until(
        lambda: (
            counts
            if set(counts := Counter(kannel.arrived_numbers()) - before) >= expected
            else None
        ),
        what="every message at the SMSC",
    )
    assert set(arrived) == expected
    twice = {number for number, n in arrived.items() if n > 1}
    assert twice <= in_flight
    wait_until(
        lambda: Message.objects.filter(status="delivered").count() == COUNT,
        what="every delivery report",
    )

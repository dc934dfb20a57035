"""`python -m bench callqueue`: an agent's queue page against a bare query of its rows.

N customers (default 100,000) in one campaign's call list, loaded from an approved
selection by the product's set-based INSERT … SELECT; half of them in the bench
agent's queue, with callbacks due and not yet due, customers waiting out the retry
delay, finished ones and numbers on the do-not-contact list. The product side is
how the queue view reads its table: the selector (do-not-contact filter, due
callbacks first, then priority, rows as dicts). The baseline is one hand-written SQL
statement through a bare cursor returning the same page of rows. Both must return
the same ids in the same order. Target: the product within 2x. Rendering the rows
template is timed too and reported beside it: it costs the same whatever the size
of the campaign, so it is not part of the ratio.
"""

from __future__ import annotations

import statistics
import time
from datetime import date, timedelta

from bench.common import machine, timed

TARGET = 2.0
DEFAULT_SIZE = 100_000
REPEATS = 50
CODE = "bench-callqueue"

# The same page as one hand-written statement: due callbacks, then the rest by rank,
# each part walking the queue index and stopping after a page.
BARE_SQL = """
SELECT * FROM (
  (SELECT t.id, t.msisdn, t.full_name, t.rank, t.status, t.callback_at,
          t.attempts, t.last_disposition, t.escalated_at, 0 AS bucket
   FROM callcenter_calltask t
   WHERE t.campaign_id = %(campaign)s AND t.agent_id = %(agent)s
     AND t.status = 'callback' AND t.available_at <= %(now)s
     AND NOT EXISTS (SELECT 1 FROM messaging_donotcontact d WHERE d.msisdn = t.msisdn)
   ORDER BY t.callback_at, t.rank, t.id LIMIT %(limit)s)
  UNION ALL
  (SELECT t.id, t.msisdn, t.full_name, t.rank, t.status, t.callback_at,
          t.attempts, t.last_disposition, t.escalated_at, 1 AS bucket
   FROM callcenter_calltask t
   WHERE t.campaign_id = %(campaign)s AND t.agent_id = %(agent)s
     AND t.status = 'open' AND t.available_at <= %(now)s
     AND NOT EXISTS (SELECT 1 FROM messaging_donotcontact d WHERE d.msisdn = t.msisdn)
   ORDER BY t.rank, t.id LIMIT %(limit)s)
) page
ORDER BY bucket, callback_at, rank, id
LIMIT %(limit)s
"""


# For comparison only: the page as one sort over every workable row of the agent,
# the plan the queue had before it was split in two.
SORT_ALL_SQL = """
SELECT t.id
FROM callcenter_calltask t
WHERE t.campaign_id = %(campaign)s AND t.agent_id = %(agent)s
  AND t.status IN ('open', 'callback') AND t.available_at <= %(now)s
  AND NOT EXISTS (SELECT 1 FROM messaging_donotcontact d WHERE d.msisdn = t.msisdn)
ORDER BY CASE WHEN t.status = 'callback' THEN 0 ELSE 1 END, t.callback_at, t.rank, t.id
LIMIT %(limit)s
"""


def _setup(size: int):
    from django.contrib.auth import get_user_model
    from django.db import connection, transaction
    from django.utils import timezone

    from callcenter import services
    from callcenter.demo import script_002_load
    from callcenter.models import CallTask
    from campaigns.models import Campaign, SelectionMember, SelectionRun
    from eligibility.models import Snapshot
    from messaging.models import DoNotContact

    User = get_user_model()
    agent, _ = User.objects.get_or_create(username="bench-agent")
    other, _ = User.objects.get_or_create(username="bench-agent-2")
    campaign = Campaign.objects.filter(code=CODE).first()
    if campaign and CallTask.objects.filter(campaign=campaign).count() == size:
        return campaign, agent
    with transaction.atomic():
        if campaign:
            CallTask.objects.filter(campaign=campaign).delete()
            campaign.delete()
        snapshot, _ = Snapshot.objects.get_or_create(
            name="bench-callqueue", defaults={"taken_on": date(2022, 10, 31)}
        )
        campaign = Campaign.objects.create(
            code=CODE,
            name="Bench call queue",
            status=Campaign.Status.APPROVED,
            snapshot=snapshot,
        )
        run = SelectionRun.objects.create(
            campaign=campaign,
            number=1,
            snapshot=snapshot,
            status=SelectionRun.Status.APPROVED,
        )
        with connection.cursor() as cursor:
            cursor.execute(
                f"""
                INSERT INTO {SelectionMember._meta.db_table} (
                    run_id, msisdn, selected, rank, cell, cell_rank, spilled, tier,
                    customer_group, gift_tier, channel, list_name, full_name, company,
                    province, district, values
                )
                SELECT %s, '849' || lpad(g::text, 8, '0'), true, g, '', g, false, '',
                       '', '', '', '', 'Khách hàng ' || g, 9, 'Cần Thơ',
                       'Quận Ninh Kiều', '{{}}'::jsonb
                FROM generate_series(1, %s) g
                """,
                [run.pk, size],
            )
        script_002_load(campaign)
        services.call_list_load(campaign=campaign)
        now = timezone.now()
        tasks = CallTask.objects.filter(campaign=campaign)
        # Half to the bench agent, half to another, interleaved by rank.
        tasks.filter(rank__gt=0).extra(where=["rank %% 2 = 0"]).update(agent=agent)
        tasks.filter(agent__isnull=True).update(agent=other)
        mine = tasks.filter(agent=agent)
        mine.extra(where=["rank %% 100 = 0"]).update(
            status="callback",
            callback_at=now - timedelta(minutes=5),
            available_at=now - timedelta(minutes=5),
        )
        mine.extra(where=["rank %% 100 = 2"]).update(
            status="callback",
            callback_at=now + timedelta(hours=3),
            available_at=now + timedelta(hours=3),
        )
        mine.extra(where=["rank %% 10 = 4"]).update(
            available_at=now + timedelta(hours=2), attempts=1
        )
        mine.extra(where=["rank %% 10 = 6"]).update(status="done", attempts=1)
        with connection.cursor() as cursor:
            cursor.execute(
                f"""
                INSERT INTO {DoNotContact._meta.db_table} (msisdn, source, note,
                    created_at)
                SELECT '849' || lpad(g::text, 8, '0'), 'import', 'bench', now()
                FROM generate_series(8, %s, 50) g
                ON CONFLICT (msisdn) DO NOTHING
                """,
                [size],
            )
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE callcenter_calltask")
        cursor.execute("ANALYZE messaging_donotcontact")
    return campaign, agent


def _product(campaign, agent, now):
    from django.template.loader import render_to_string

    from callcenter import selectors
    from callcenter.views import customer_url_prefix

    start = time.perf_counter()
    rows = selectors.queue_page(campaign_id=campaign.pk, agent_id=agent.pk, now=now)
    seconds = time.perf_counter() - start
    html = render_to_string(
        "callcenter/_queue_rows.html",
        {"rows": rows, "customer_url": customer_url_prefix()},
    )
    render_seconds = time.perf_counter() - start - seconds
    assert html.count("<tr") == len(rows)
    return seconds, [row["id"] for row in rows], render_seconds


def _bare(campaign, agent, now, sql=BARE_SQL):
    from django.db import connection

    params = {"campaign": campaign.pk, "agent": agent.pk, "now": now, "limit": 50}
    start = time.perf_counter()
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        rows = cursor.fetchall()
    seconds = time.perf_counter() - start
    return seconds, [row[0] for row in rows]


def run(size: int | None = None) -> dict:
    from django.db import connection
    from django.utils import timezone

    from callcenter.models import CallTask

    size = size or DEFAULT_SIZE
    figures: dict = {}
    print(f"Call queue: {size:,} customers in one campaign", flush=True)
    with timed("setup", figures):
        campaign, agent = _setup(size)
    mine = CallTask.objects.filter(campaign=campaign, agent=agent).count()
    now = timezone.now()
    # Warm both paths (plans, template cache) before timing.
    _product(campaign, agent, now)
    _bare(campaign, agent, now)
    product_times, bare_times, sort_all_times, render_times = [], [], [], []
    same = True
    for _ in range(REPEATS):
        seconds, product_ids, render_seconds = _product(campaign, agent, now)
        product_times.append(seconds)
        render_times.append(render_seconds)
        seconds, bare_ids = _bare(campaign, agent, now)
        bare_times.append(seconds)
        seconds, sort_all_ids = _bare(campaign, agent, now, SORT_ALL_SQL)
        sort_all_times.append(seconds)
        same = same and product_ids == bare_ids == sort_all_ids
    # Best of the repeats, as bench.selection does: the machine is shared, and the
    # fastest run is the one least disturbed by other processes.
    product_ms = min(product_times) * 1000
    bare_ms = min(bare_times) * 1000
    sort_all_ms = min(sort_all_times) * 1000
    median_ms = statistics.median(product_times) * 1000
    render_ms = min(render_times) * 1000
    ratio = product_ms / bare_ms
    with connection.cursor() as cursor:
        cursor.execute(
            "EXPLAIN (ANALYZE, FORMAT TEXT) " + BARE_SQL,
            {"campaign": campaign.pk, "agent": agent.pk, "now": now, "limit": 50},
        )
        plan = [row[0] for row in cursor.fetchall()]
    print("  plan: " + "\n        ".join(plan[:6]))
    print(
        f"  queue page rows (selector): {product_ms:.2f} ms best of {REPEATS} "
        f"(median {median_ms:.2f}); rows template: {render_ms:.2f} ms; bare SQL: "
        f"{bare_ms:.2f} ms; one sort "
        f"over the whole queue: {sort_all_ms:.2f} ms; ratio {ratio:.2f}x (target <= "
        f"{TARGET}x); {len(product_ids)} rows of {mine:,} in the agent's queue; "
        f"same rows: {same}",
        flush=True,
    )
    return {
        "name": "callqueue",
        "size": size,
        "ratio": round(ratio, 3),
        "target": TARGET,
        "ok": same and ratio <= TARGET and len(product_ids) > 0,
        "product_ms": round(product_ms, 2),
        "bare_ms": round(bare_ms, 2),
        "product_median_ms": round(median_ms, 2),
        "render_ms": round(render_ms, 2),
        "sort_all_ms": round(sort_all_ms, 2),
        "rows": len(product_ids),
        "agent_queue": mine,
        "same_rows": same,
        "setup_s": round(figures["setup"], 1),
        "machine": machine(),
    }

"""`python -m bench dashboard`: the campaign dashboard against one bare aggregate.

A campaign of N invitations (default 1,000,000) is built set-based with
generate_series: members over 9 companies, 63 provinces and 3 tiers, an invitation
SMS each (90 % delivered), 40 % logged in, 30 % chose, their orders released to a
partner by the product's own INSERT … SELECT (`orders_release`), results on most of
them and result SMS. The campaign is cached by name (`bench-dashboard-N`) and reused
while its invitation count is intact.

Measured: the dashboard page rendered by the view (test client: login session,
the GROUP BY over the joined rows, stock, template with every table), against the
single aggregate statement over the same joined rows with no grouping at all. Both
must count the same funnel. Target: the page within 2x of the bare query.
"""

from __future__ import annotations

import statistics
import time
from datetime import date, timedelta

from bench.common import machine, timed

TARGET = 2.0
REPEATS = 5
DEFAULT_SIZE = 1_000_000

PROVINCES = 63
COMPANIES = 9


def _build(size: int, results: dict):
    from django.db import connection
    from django.utils import timezone

    from campaigns.models import Campaign, SelectionRun
    from eligibility.models import Snapshot
    from fulfilment import services
    from fulfilment.models import Partner, PartnerAssignment
    from gifts.models import Gift, GiftKind, GiftStock

    code = f"bench-dashboard-{size}"
    campaign = Campaign.objects.filter(code=code).first()
    # The description is written last: a build that stopped half-way is rebuilt.
    if campaign and campaign.description == "complete":
        return campaign
    if campaign:
        # Left aside rather than deleted: deleting cascades through every app's
        # tables, and a million rows of them take longer than building anew.
        Campaign.objects.filter(pk=campaign.pk).update(code=f"{code}-old-{campaign.pk}")
    print(f"Building a campaign of {size:,} invitations…", flush=True)
    now = timezone.now()
    snapshot, _created = Snapshot.objects.get_or_create(
        name="bench-dashboard", defaults={"taken_on": date(2022, 10, 31)}
    )
    campaign = Campaign.objects.create(
        code=code, name=f"Bench dashboard {size:,}", status=Campaign.Status.OPEN
    )
    run = SelectionRun.objects.create(
        campaign=campaign,
        number=1,
        snapshot=snapshot,
        status=SelectionRun.Status.APPROVED,
        selected_count=size,
    )
    gifts = [
        Gift.objects.create(
            campaign=campaign,
            code=f"qua-{n}",
            name=f"Quà {n}",
            kind=GiftKind.HOME_DELIVERY,
            value_vnd=500_000,
            position=n,
        )
        for n in (1, 2)
    ]
    stocks = [
        GiftStock.objects.create(gift=gift, total=size, remaining=size - size * 3 // 20)
        for gift in gifts
    ]
    partner, _created = Partner.objects.get_or_create(
        code="bench-partner", defaults={"name": "Bench partner"}
    )
    PartnerAssignment.objects.create(
        campaign=campaign, partner=partner, channel=GiftKind.HOME_DELIVERY
    )
    closed = now - timedelta(days=3)
    with (
        connection.cursor() as cursor,
        timed("build members + invitations + SMS + choices", results),
    ):
        cursor.execute(
            """
            INSERT INTO campaigns_selectionmember (
                run_id, msisdn, selected, rank, cell, cell_rank, spilled, tier,
                customer_group, gift_tier, channel, list_name, full_name, company,
                province, district, values)
            SELECT %s, '849' || lpad(g::text, 8, '0'), true, g, '', g, false,
                   'hang-' || (g %% 3), '', 'hang-' || (g %% 3), 'online_choice', '',
                   'Khách ' || g, 1 + g %% 9, 'Tỉnh ' || (g %% 63), 'Quận ' || (g %% 20),
                   '{}'::jsonb
            FROM generate_series(1, %s) g
            """,
            [run.pk, size],
        )
        cursor.execute(
            """
            INSERT INTO gifts_invitation (
                campaign_id, run_id, member_id, msisdn, tier, province, district,
                password_hash, password_version, issued_at, deadline, status,
                failed_attempts, revision, last_login_at)
            SELECT %(campaign)s, m.run_id, m.id, m.msisdn, m.gift_tier, m.province,
                   m.district, 'x', 1, %(issued)s, %(closed)s,
                   CASE WHEN m.rank %% 10 < 3 THEN 'chosen' ELSE 'expired' END,
                   0, 0,
                   CASE WHEN m.rank %% 10 < 4 THEN %(issued)s END
            FROM campaigns_selectionmember m WHERE m.run_id = %(run)s
            """,
            {
                "campaign": campaign.pk,
                "run": run.pk,
                "issued": closed - timedelta(days=3),
                "closed": closed,
            },
        )
        cursor.execute(
            """
            INSERT INTO messaging_message (
                campaign_id, msisdn, purpose, sequence, channel, sender, body,
                sensitive, encoding, segments, status, due_at, attempts, last_error,
                gateway_message_id, claimed_by, created_at)
            SELECT i.campaign_id, i.msisdn, 'invitation', 1, 'sms', 'MobiFone',
                   'Moi quy khach chon qua', true, 'gsm7', 1,
                   CASE WHEN i.id %% 10 = 0 THEN 'failed' ELSE 'delivered' END,
                   i.issued_at, 1, '', '', '', i.issued_at
            FROM gifts_invitation i WHERE i.campaign_id = %s
            """,
            [campaign.pk],
        )
        cursor.execute(
            """
            INSERT INTO gifts_choice (
                invitation_id, gift_id, stock_id, code, recipient_name, address,
                address_from_records, details, auto_assigned, fulfilment, chosen_at)
            SELECT i.id,
                   CASE WHEN i.id %% 2 = 0 THEN %(g1)s ELSE %(g2)s END,
                   CASE WHEN i.id %% 2 = 0 THEN %(s1)s ELSE %(s2)s END,
                   'B' || lpad(i.id::text, 11, '0'), 'Khách', '1 Lê Lợi, Quận 1',
                   false, '{}'::jsonb, false, 'pending', i.issued_at
            FROM gifts_invitation i
            WHERE i.campaign_id = %(campaign)s AND i.status = 'chosen'
            """,
            {
                "campaign": campaign.pk,
                "g1": gifts[0].pk,
                "g2": gifts[1].pk,
                "s1": stocks[0].pk,
                "s2": stocks[1].pk,
            },
        )
        # Fresh tables have no statistics yet (autovacuum has not come by): without
        # them the planner picks nested loops over a million rows.
        for table in [
            "campaigns_selectionmember",
            "gifts_invitation",
            "gifts_choice",
            "messaging_message",
        ]:
            cursor.execute(f"ANALYZE {table}")
    with timed("orders_release (product, INSERT … SELECT)", results):
        released = services.orders_release(campaign=campaign)
    print(f"  {released['created']:,} orders released", flush=True)
    with connection.cursor() as cursor, timed("build results + result SMS", results):
        cursor.execute("ANALYZE fulfilment_order")
        # Most orders have a result: 80 % delivered, 10 % failed, 10 % still pending,
        # a few of those pending past their deadline.
        cursor.execute(
            """
            UPDATE fulfilment_order SET
                status = CASE WHEN id %% 10 < 8 THEN 'delivered'
                              WHEN id %% 10 = 8 THEN 'failed' ELSE 'pending' END,
                result_version = CASE WHEN id %% 10 < 9 THEN 1 ELSE 0 END,
                result_on = CASE WHEN id %% 10 < 9 THEN CURRENT_DATE - 1 END,
                reason = CASE WHEN id %% 10 = 8 THEN 'vang nha' ELSE '' END,
                result_at = CASE WHEN id %% 10 < 9 THEN %(now)s END,
                upload_by = CASE WHEN id %% 10 < 9 THEN %(now)s - interval '1 hour'
                                 * (id %% 7 - 3) END,
                notify_by = CASE WHEN id %% 10 < 9 THEN %(now)s + interval '7 days' END,
                deliver_by = CASE WHEN id %% 100 = 99 THEN %(now)s - interval '1 day'
                                  ELSE deliver_by END
            WHERE campaign_id = %(campaign)s
            """,
            {"campaign": campaign.pk, "now": now},
        )
        cursor.execute(
            """
            INSERT INTO messaging_message (
                campaign_id, msisdn, purpose, sequence, channel, sender, body,
                sensitive, encoding, segments, status, due_at, attempts, last_error,
                gateway_message_id, claimed_by, created_at)
            SELECT o.campaign_id, o.msisdn,
                   CASE WHEN o.status = 'delivered' THEN 'delivery_success'
                        ELSE 'delivery_failure' END,
                   1, 'sms', 'MobiFone', 'Ket qua giao qua', false, 'gsm7', 1,
                   CASE WHEN o.id %% 5 = 0 THEN 'queued' ELSE 'delivered' END,
                   %(now)s, 1, '', '', '', %(now)s
            FROM fulfilment_order o
            WHERE o.campaign_id = %(campaign)s AND o.status IN ('delivered', 'failed')
            """,
            {"campaign": campaign.pk, "now": now},
        )
        cursor.execute("ANALYZE messaging_message")
        cursor.execute(
            """
            UPDATE fulfilment_order o SET result_message_id = m.id
            FROM messaging_message m
            WHERE o.campaign_id = %(campaign)s AND m.campaign_id = o.campaign_id
              AND m.msisdn = o.msisdn AND m.sequence = 1
              AND m.purpose IN ('delivery_success', 'delivery_failure')
            """,
            {"campaign": campaign.pk},
        )
        for table in [
            "campaigns_selectionmember",
            "gifts_invitation",
            "gifts_choice",
            "fulfilment_order",
            "messaging_message",
        ]:
            cursor.execute(f"ANALYZE {table}")
    Campaign.objects.filter(pk=campaign.pk).update(description="complete")
    return campaign


def _median(label: str, func, results: dict) -> float:
    times = []
    for _ in range(REPEATS):
        start = time.perf_counter()
        func()
        times.append(time.perf_counter() - start)
    results[label] = statistics.median(times)
    print(
        f"  {label}: median {results[label]:.3f} s "
        f"(min {min(times):.3f}, max {max(times):.3f})",
        flush=True,
    )
    return results[label]


def run(size: int | None = None) -> dict:
    from django.conf import settings
    from django.contrib.auth import get_user_model
    from django.db import connection
    from django.test import Client
    from django.urls import reverse
    from django.utils import timezone

    from fulfilment import selectors

    size = size or DEFAULT_SIZE
    settings.ALLOWED_HOSTS = [*settings.ALLOWED_HOSTS, "testserver"]
    results: dict = {}
    campaign = _build(size, results)
    user, _created = get_user_model().objects.get_or_create(
        username="bench-dashboard", defaults={"is_staff": True, "is_superuser": True}
    )
    client = Client()
    client.force_login(user)
    url = reverse("fulfilment:dashboard", args=[campaign.code])
    page = {}

    def product():
        response = client.get(url)
        assert response.status_code == 200, response.status_code
        page["html"] = response.content

    baseline_row = {}

    def baseline():
        with connection.cursor() as cursor:
            cursor.execute(
                selectors.funnel_counts_sql(),
                {"campaign": campaign.pk, "now": timezone.now()},
            )
            baseline_row["counts"] = dict(
                zip(selectors.MEASURE_KEYS, cursor.fetchone(), strict=True)
            )

    print(f"Dashboard of {size:,} invitations ({machine()}):", flush=True)
    product()  # warm: the first request loads templates and the session
    baseline()
    # In turns, so both see the same cache state and machine load.
    product_time = _median("dashboard page (product)", product, results)
    baseline_time = _median("single aggregate query (baseline)", baseline, results)
    # The page's own figures, read the way the view reads them.
    data = selectors.campaign_dashboard(campaign=campaign)
    totals = data.totals
    assert b'data-step="chose"' in page["html"]
    same = all(
        totals[key] == baseline_row["counts"][key] for key in selectors.MEASURE_KEYS
    )
    ratio = round(product_time / baseline_time, 2) if baseline_time else None
    funnel = {step["key"]: step["value"] for step in data.funnel}
    print(f"  funnel: {funnel}", flush=True)
    print(f"  same counts: {same}; ratio {ratio} (target <= {TARGET})", flush=True)
    return {
        "name": "dashboard",
        "size": size,
        "product_s": round(product_time, 3),
        "baseline_s": round(baseline_time, 3),
        "ratio": ratio,
        "target": TARGET,
        "same_result": same,
        "funnel": funnel,
        "setup": {
            k: round(v, 2)
            for k, v in results.items()
            if k
            not in ("dashboard page (product)", "single aggregate query (baseline)")
        },
        "ok": bool(same and ratio is not None and ratio <= TARGET),
    }

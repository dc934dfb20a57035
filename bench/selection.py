"""`python -m bench selection`: the rules engine against hand-written SQL.

N generated subscribers with 12 billing cycles (09/2018..08/2019) on PostgreSQL.
Programme 004 (per-company ranking, company x group quotas with spill-over) and
programme 000 (top-N by revenue) run through the product (rule checks against the
snapshot, the compiled statement that writes every eligible member with its rank,
cell, tier and list, the funnel and the counts) and through one hand-written query
each that computes the same selected list. The two lists must be identical, rank for
rank. Target: the engine within 1.5x of the hand-written query, for each programme.
"""

from __future__ import annotations

import time
from datetime import date
from pathlib import Path

from bench.common import CACHE, machine, timed

TARGET = 1.5
CYCLES = 12
LAST_CYCLE = "2019-08"
TAKEN_ON = date(2019, 8, 31)
TOP_N = 1000
REPEATS = 3


def _snapshot(size: int):
    """The bench snapshot, generated and imported once, reused while it is intact."""
    from eligibility import services
    from eligibility.models import ImportKind, Snapshot, Subscriber
    from eligibility.synthetic import generate_snapshot

    name = f"bench-selection-{size}"
    snapshot = Snapshot.objects.filter(name=name).first()
    if (
        snapshot
        and Subscriber.objects.filter(snapshot=snapshot).count()
        == (snapshot.subscriber_count)
        > 0
    ):
        return snapshot
    if snapshot:
        services.snapshot_delete(snapshot=snapshot)
    folder = CACHE / f"selection-{size}-{CYCLES}"
    subscribers, billing = folder / "subscribers.csv", folder / "billing.csv"
    if not (subscribers.exists() and billing.exists()):
        folder.mkdir(parents=True, exist_ok=True)
        print(f"Generating {size:,} subscribers x {CYCLES} cycles…", flush=True)
        generate_snapshot(
            out_dir=folder, size=size, cycles=CYCLES, last_cycle=LAST_CYCLE, seed=2019
        )
    snapshot = services.snapshot_create(name=name, taken_on=TAKEN_ON)
    for kind, path in [
        (ImportKind.SUBSCRIBERS, subscribers),
        (ImportKind.BILLING, billing),
    ]:
        print(f"Importing {path.name}…", flush=True)
        services.import_file(kind=kind, path=Path(path), snapshot=snapshot, commit=True)
    snapshot.refresh_from_db()
    return snapshot


def _campaign(code: str, snapshot, **changes):
    from campaigns import definitions, services
    from campaigns.demo import PROGRAMMES_DIR
    from campaigns.models import Campaign

    path = next(Path(PROGRAMMES_DIR).glob(f"{code}*.yaml"))
    definition = definitions.definition_parse(path.read_text(encoding="utf-8"))
    definition["code"] = f"bench-{code}"
    definition.update(changes)
    existing = Campaign.objects.filter(code=definition["code"]).first()
    if existing:
        existing.delete()
    campaign, _created = services.campaign_import(
        definition=definition, snapshot=snapshot
    )
    return campaign


def _engine(campaign) -> tuple[float, list[tuple[str, int]], object]:
    """Seconds for a whole run, the selected (msisdn, rank) list, the run."""
    from campaigns import services
    from campaigns.models import Campaign, SelectionMember, SelectionRun

    Campaign.objects.filter(pk=campaign.pk).update(status=Campaign.Status.DRAFT)
    SelectionRun.objects.filter(campaign=campaign).delete()
    campaign.refresh_from_db()
    start = time.perf_counter()
    run = services.selection_run_start(campaign=campaign, enqueue=False)
    run = services.selection_run_execute(run_id=run.pk)
    seconds = time.perf_counter() - start
    assert run.status == SelectionRun.Status.PREVIEW, run.error
    selected = list(
        SelectionMember.objects.filter(run=run, selected=True)
        .order_by("rank")
        .values_list("msisdn", "rank")
    )
    return seconds, selected, run


def _baseline(sql: str) -> tuple[float, list[tuple[str, int]]]:
    from django.db import connection, transaction

    from eligibility.selection import WORK_MEM

    # The same session settings as the engine's statement: a fair hand-written run.
    with transaction.atomic(), connection.cursor() as cursor:
        start = time.perf_counter()
        cursor.execute("SET LOCAL work_mem = %s", [WORK_MEM])
        cursor.execute("DROP TABLE IF EXISTS bench_baseline")
        cursor.execute(f"CREATE TEMP TABLE bench_baseline AS {sql}")
        seconds = time.perf_counter() - start
        cursor.execute("SELECT msisdn, rank FROM bench_baseline ORDER BY rank")
        rows = [(str(msisdn), int(rank)) for msisdn, rank in cursor.fetchall()]
        cursor.execute("DROP TABLE bench_baseline")
    return seconds, rows


def _tenure(column: str) -> str:
    return (
        f"(EXTRACT(YEAR FROM age(DATE '{TAKEN_ON}', {column})) * 12 + "
        f"EXTRACT(MONTH FROM age(DATE '{TAKEN_ON}', {column})))"
    )


def _sql_000(snapshot_id: int) -> str:
    """Programme 000 by hand: HCM, tenure >= 240, 2C, no KNDL/KHCC, normal lines;
    average charge of 06..08/2019 (campaign month 09/2019) desc, tenure desc; top N."""
    return f"""
    WITH revenue AS (
        SELECT msisdn, SUM(revenue_total) AS total
        FROM eligibility_billingrecord
        WHERE snapshot_id = {snapshot_id}
          AND cycle BETWEEN DATE '2019-06-01' AND DATE '2019-08-01'
        GROUP BY msisdn
    ), candidates AS (
        SELECT s.msisdn, COALESCE(r.total, 0) / 3.0 AS arpu,
               {_tenure("s.contract_date")} AS tenure
        FROM eligibility_subscriber s LEFT JOIN revenue r ON r.msisdn = s.msisdn
        WHERE s.snapshot_id = {snapshot_id} AND s.province = 'Hồ Chí Minh'
          AND s.status = '2C' AND NOT s.loyalty_member AND NOT s.is_premium
          AND s.line_kind = 'normal' AND {_tenure("s.contract_date")} >= 240
    )
    SELECT msisdn, ROW_NUMBER() OVER (
        ORDER BY arpu DESC, tenure DESC, msisdn) AS rank
    FROM candidates ORDER BY rank LIMIT {TOP_N}
    """


def _sql_004(snapshot_id: int, cells: list[dict]) -> str:
    """Programme 004 by hand, the quota table and spill-over within each company."""
    seats = ", ".join(
        f"({int(cell['key'][0])}, '{cell['key'][1]}', {int(cell['seats'])})"
        for cell in cells
    )
    return f"""
    WITH cycles AS (
        SELECT msisdn,
               SUM(revenue_total) AS total,
               SUM(revenue_total - revenue_excluded) AS information,
               SUM(revenue_voice + revenue_sms + revenue_data) AS usage,
               COUNT(*) FILTER (WHERE paid AND payment_channel IN
                   ('bank_online', 'bank_auto_debit', 'bank_collection',
                    'bank_transfer')) AS bank_paid,
               BOOL_OR(debt_blocked) AS blocked
        FROM eligibility_billingrecord
        WHERE snapshot_id = {snapshot_id}
          AND cycle BETWEEN DATE '2018-09-01' AND DATE '2019-08-01'
        GROUP BY msisdn
    ), eligible AS (
        SELECT s.msisdn, s.company, s.customer_type,
               c.information / 12.0 AS information,
               {_tenure("s.contract_date")} AS tenure
        FROM eligibility_subscriber s JOIN cycles c ON c.msisdn = s.msisdn
        WHERE s.snapshot_id = {snapshot_id}
          AND s.subscription_type = 'postpaid' AND s.status = '2C'
          AND EXTRACT(YEAR FROM age(DATE '{TAKEN_ON}', s.birth_date)) >= 18
          AND c.bank_paid = 12 AND NOT c.blocked AND s.nationality = 'VN'
          AND (s.customer_type <> 'individual' OR s.is_owner)
          AND (s.customer_type <> 'enterprise'
               OR s.enterprise_role IN ('head_of_department', 'director'))
          AND {_tenure("s.contract_date")} >= 36
          AND c.total > 0 AND 100.0 * c.usage / c.total >= 80
          AND (s.ownership_changed_on IS NULL
               OR s.ownership_changed_on < DATE '2018-09-01')
    ), seats(company, customer_type, seats) AS (VALUES {seats}),
    ranked AS (
        SELECT e.*, q.seats,
               ROW_NUMBER() OVER (PARTITION BY e.company, e.customer_type
                   ORDER BY e.information DESC, e.tenure DESC,
                            e.msisdn) AS in_cell,
               ROW_NUMBER() OVER (ORDER BY e.information DESC, e.tenure DESC,
                            e.msisdn) AS rank
        FROM eligible e JOIN seats q
          ON q.company = e.company AND q.customer_type = e.customer_type
    ), short AS (
        SELECT q.company, SUM(GREATEST(q.seats - COALESCE(f.filled, 0), 0)) AS short
        FROM seats q LEFT JOIN (
            SELECT company, customer_type, COUNT(*) AS filled FROM ranked
            GROUP BY 1, 2) f
          ON f.company = q.company AND f.customer_type = q.customer_type
        GROUP BY q.company
    ), spare AS (
        SELECT r.msisdn, r.rank, ROW_NUMBER() OVER (PARTITION BY r.company
                   ORDER BY r.information DESC, r.tenure DESC,
                            r.msisdn) AS turn, s.short
        FROM ranked r JOIN short s ON s.company = r.company
        WHERE r.in_cell > r.seats
    )
    SELECT msisdn, rank FROM ranked WHERE in_cell <= seats
    UNION ALL
    SELECT msisdn, rank FROM spare WHERE turn <= short
    """


def run(size: int | None = None) -> dict:
    from django.db import connection

    size = size or 1_000_000
    print(f"selection: {size:,} subscribers, {CYCLES} cycles; {machine()}", flush=True)
    figures: dict = {}
    with timed("snapshot ready", figures):
        snapshot = _snapshot(size)
    with connection.cursor() as cursor:
        cursor.execute("SELECT version()")
        print(f"  {cursor.fetchone()[0].split(',')[0]}")

    programmes = {
        # 000's campaign month follows the bench data: n = 09/2019, n-3..n-1 present.
        "000": _campaign(
            "000",
            snapshot,
            starts_on=date(2019, 9, 1),
            ends_on=date(2019, 12, 31),
            quotas={"total": TOP_N},
        ),
        "004": _campaign("004", snapshot),
    }
    results = {}
    ok = True
    for code, campaign in programmes.items():
        cells = campaign.quota_cells.all()
        sql = (
            _sql_000(snapshot.pk)
            if code == "000"
            else _sql_004(
                snapshot.pk,
                [{"key": c.key.split(", "), "seats": c.seats} for c in cells],
            )
        )
        engine_times, baseline_times = [], []
        for _repeat in range(REPEATS):
            seconds, engine_list, run_ = _engine(campaign)
            engine_times.append(seconds)
            seconds, baseline_list = _baseline(sql)
            baseline_times.append(seconds)
            baseline_list.sort(key=lambda row: row[1])
        same = engine_list == baseline_list
        engine_best, baseline_best = min(engine_times), min(baseline_times)
        ratio = engine_best / baseline_best
        print(
            f"  {code}: engine {engine_best:.2f} s (runs: "
            f"{', '.join(f'{t:.2f}' for t in engine_times)}), hand-written "
            f"{baseline_best:.2f} s, ratio {ratio:.2f}x; {len(engine_list)} selected "
            f"of {run_.eligible_count:,} eligible; same list: {same}",
            flush=True,
        )
        results[code] = {
            "engine_s": round(engine_best, 3),
            "baseline_s": round(baseline_best, 3),
            "ratio": round(ratio, 3),
            "selected": len(engine_list),
            "eligible": run_.eligible_count,
            "same_list": same,
        }
        ok = ok and same and ratio <= TARGET and len(engine_list) > 0
    worst = max(result["ratio"] for result in results.values())
    return {
        "name": "selection",
        "size": size,
        "ratio": worst,
        "target": TARGET,
        "ok": ok,
        "programmes": results,
        "snapshot_s": round(figures["snapshot ready"], 1),
        "machine": machine(),
    }

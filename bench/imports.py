"""`python -m bench import`: the import pipeline against raw COPY and bare XLSX readers.

CSV: N subscribers + 6 billing cycles (6N rows) through the product (check every row,
COPY the good ones into the snapshot's partition, commit) against a raw `COPY` of the same files into bare typed
tables with no constraints, in the same run. Target: at most 1.5x.

XLSX: N/10 subscriber rows through the product against a bare iteration of the same file
by python-calamine (target: at most 1.5x) and by openpyxl's read-only mode (reported).

Each of `rounds` rounds measures a baseline and the product back to back; the median
round's ratio is the result.
"""

from __future__ import annotations

import statistics
import time
from datetime import date
from pathlib import Path

from bench.common import CACHE, PeakMemory, machine, max_rss_mb, timed

CSV_TARGET = 1.5
XLSX_TARGET = 1.5
CYCLES = 6

SQL_TYPES = {
    "msisdn": "text",
    "text": "text",
    "choice": "text",
    "date": "date",
    "cycle": "text",
    "money": "bigint",
    "int": "bigint",
    "flag": "boolean",
    "decimal": "numeric",
}


def _files(size: int) -> tuple[Path, Path]:
    from eligibility.synthetic import generate_snapshot

    folder = CACHE / f"import-{size}-{CYCLES}"
    subscribers, billing = folder / "subscribers.csv", folder / "billing.csv"
    if not (subscribers.exists() and billing.exists()):
        folder.mkdir(parents=True, exist_ok=True)
        print(
            f"Generating {size:,} subscribers x {CYCLES} cycles in {folder}…",
            flush=True,
        )
        start = time.perf_counter()
        generate_snapshot(out_dir=folder, size=size, cycles=CYCLES, seed=7)
        print(f"  generated in {time.perf_counter() - start:.1f} s", flush=True)
    return subscribers, billing


def _xlsx_file(size: int, csv_path: Path) -> Path:
    """The first `size` subscriber rows of the CSV, as an XLSX written by openpyxl."""
    import csv

    import openpyxl

    path = CACHE / f"import-xlsx-{size}.xlsx"
    if path.exists():
        return path
    print(f"Writing {size:,} rows to {path}…", flush=True)
    book = openpyxl.Workbook(write_only=True)
    sheet = book.create_sheet("subscribers")
    with open(csv_path, newline="", encoding="utf-8") as stream:
        reader = csv.reader(stream)
        for index, row in enumerate(reader):
            if index > size:
                break
            sheet.append(row)
    book.save(path)
    return path


def _reset_tables() -> None:
    """Empty the import's tables and drop the partitions earlier runs left."""
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT relname FROM pg_class WHERE relkind = 'r' AND relname ~ "
            "'^eligibility_(subscriber|billingrecord)_(s|job)[0-9]+$'"
        )
        for (table,) in cursor.fetchall():
            cursor.execute(f"DROP TABLE {table}")
        cursor.execute(
            "TRUNCATE eligibility_subscriber, eligibility_billingrecord, "
            "eligibility_importrejection, eligibility_importjob, "
            "eligibility_snapshot CASCADE"
        )


def _raw_copy(path: Path, table: str, columns) -> int:
    """The baseline: the file's bytes straight into a bare typed table with COPY."""
    from django.db import connection

    header = path.open(encoding="utf-8").readline().strip().split(",")
    by_name = {c.name: c for c in columns}
    ddl = ", ".join(f"{name} {SQL_TYPES[by_name[name].kind]}" for name in header)
    with connection.cursor() as cursor:
        cursor.execute(f"DROP TABLE IF EXISTS {table}")
        cursor.execute(f"CREATE TABLE {table} ({ddl})")
        # The files write dates either way, as the operator's exports do.
        cursor.execute("SET datestyle = 'ISO, DMY'")
        with (
            cursor.cursor.copy(
                f"COPY {table} FROM STDIN (FORMAT csv, HEADER true)"
            ) as copy,
            open(path, "rb") as stream,
        ):
            while chunk := stream.read(1 << 20):
                copy.write(chunk)
        cursor.execute(f"SELECT count(*) FROM {table}")
        return cursor.fetchone()[0]


def _import(kind, path: Path, snapshot):
    from eligibility import services

    job = services.import_file(kind=kind, path=path, snapshot=snapshot, commit=True)
    assert job.rejected_rows == 0, f"{job.rejected_rows} rows rejected"
    return job


def _scalar(sql: str):
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute(sql)
        return cursor.fetchone()[0]


def _csv_round(subscribers_csv: Path, billing_csv: Path, columns) -> dict:
    """One raw COPY of both files, then the product's import of both, from clean."""
    from django.db import connection

    from eligibility import services
    from eligibility.models import ImportKind

    subscriber_columns, billing_columns = columns
    _reset_tables()
    with connection.cursor() as cursor:
        cursor.execute("CHECKPOINT")
    times: dict[str, float] = {}
    print("CSV, raw COPY into bare tables:", flush=True)
    with timed("raw_copy_subscribers", times):
        raw_subscribers = _raw_copy(
            subscribers_csv, "bench_raw_subscriber", subscriber_columns
        )
    with timed("raw_copy_billing", times):
        raw_billing = _raw_copy(billing_csv, "bench_raw_billing", billing_columns)
    with connection.cursor() as cursor:
        cursor.execute("CHECKPOINT")

    print("CSV, the product (check, COPY, commit):", flush=True)
    snapshot = services.snapshot_create(name="bench", taken_on=date(2022, 10, 31))
    with PeakMemory() as memory:
        with timed("product_subscribers", times):
            job_s = _import(ImportKind.SUBSCRIBERS, subscribers_csv, snapshot)
        with timed("product_billing", times):
            job_b = _import(ImportKind.BILLING, billing_csv, snapshot)

    # Both sides must have loaded the same rows.
    same = (
        job_s.imported_rows == raw_subscribers
        and job_b.imported_rows == raw_billing
        and _scalar("SELECT sum(revenue_total) FROM bench_raw_billing")
        == _scalar(
            f"SELECT sum(revenue_total) FROM eligibility_billingrecord "
            f"WHERE snapshot_id = {snapshot.pk}"
        )
        and _scalar(
            "SELECT count(DISTINCT full_name || contract_date) FROM bench_raw_subscriber"
        )
        == _scalar(
            f"SELECT count(DISTINCT full_name || contract_date) FROM eligibility_subscriber "
            f"WHERE snapshot_id = {snapshot.pk}"
        )
    )
    with connection.cursor() as cursor:
        cursor.execute("DROP TABLE IF EXISTS bench_raw_subscriber, bench_raw_billing")
    raw = times["raw_copy_subscribers"] + times["raw_copy_billing"]
    product = times["product_subscribers"] + times["product_billing"]
    print(f"  round: product {product:.2f} s / raw {raw:.2f} s = {product / raw:.2f}x")
    return {
        **times,
        "raw": raw,
        "product": product,
        "ratio": product / raw,
        "billing_rows": raw_billing,
        "peak_mb": memory.peak_mb,
        "same": same,
    }


def _xlsx_round(xlsx: Path) -> dict:
    """A bare calamine iteration of the sheet, then the product's import of it."""
    from python_calamine import CalamineWorkbook

    from eligibility import services
    from eligibility.models import ImportKind

    times: dict[str, float] = {}
    with timed("calamine_bare", times):
        rows = sum(
            1
            for _ in CalamineWorkbook.from_path(str(xlsx))
            .get_sheet_by_index(0)
            .iter_rows()
        )
    snapshot = services.snapshot_create(name="bench-xlsx", taken_on=date(2022, 10, 31))
    with timed("product_xlsx", times):
        job = _import(ImportKind.SUBSCRIBERS, xlsx, snapshot)
    services.snapshot_delete(snapshot=snapshot)
    ratio = times["product_xlsx"] / times["calamine_bare"]
    print(f"  round: {ratio:.2f}x")
    return {**times, "ratio": ratio, "rows": rows, "imported": job.imported_rows}


def run(size: int | None = None, rounds: int = 3) -> dict:
    from eligibility.importers import BILLING_COLUMNS, SUBSCRIBER_COLUMNS

    size = size or 1_000_000
    xlsx_size = max(1000, size // 10)
    print(
        f"import benchmark, {size:,} subscribers, {rounds} rounds; {machine()}",
        flush=True,
    )
    subscribers_csv, billing_csv = _files(size)
    xlsx = _xlsx_file(xlsx_size, subscribers_csv)

    # This VM's speed drifts by 20 % within minutes. Each round measures the
    # baseline and the product back to back, and the median round decides.
    csv_rounds = []
    for index in range(rounds):
        print(f"CSV round {index + 1} of {rounds}", flush=True)
        csv_rounds.append(
            _csv_round(
                subscribers_csv, billing_csv, (SUBSCRIBER_COLUMNS, BILLING_COLUMNS)
            )
        )
    print(f"XLSX, {xlsx_size:,} rows:", flush=True)
    xlsx_rounds = []
    for index in range(rounds):
        print(f"XLSX round {index + 1} of {rounds}", flush=True)
        xlsx_rounds.append(_xlsx_round(xlsx))
    import openpyxl

    times: dict[str, float] = {}
    with timed("openpyxl_read_only", times):
        book = openpyxl.load_workbook(xlsx, read_only=True)
        openpyxl_rows = sum(1 for _ in book.worksheets[0].iter_rows(values_only=True))
        book.close()
    _reset_tables()

    csv_ratio = statistics.median([r["ratio"] for r in csv_rounds])
    xlsx_ratio = statistics.median([r["ratio"] for r in xlsx_rounds])
    xlsx_product = statistics.median([r["product_xlsx"] for r in xlsx_rounds])
    openpyxl_ratio = xlsx_product / times["openpyxl_read_only"]
    same = all(r["same"] for r in csv_rounds) and all(
        r["imported"] == r["rows"] - 1 == openpyxl_rows - 1 for r in xlsx_rounds
    )
    peak_mb = max(r["peak_mb"] for r in csv_rounds)
    result = {
        "name": "import",
        "size": size,
        "rounds": rounds,
        "billing_rows": csv_rounds[0]["billing_rows"],
        "ratio": round(csv_ratio, 3),
        "target": CSV_TARGET,
        "csv_ratios": [round(r["ratio"], 3) for r in csv_rounds],
        "csv_product_s": [round(r["product"], 2) for r in csv_rounds],
        "csv_raw_copy_s": [round(r["raw"], 2) for r in csv_rounds],
        "xlsx_rows": xlsx_size,
        "xlsx_ratio": round(xlsx_ratio, 3),
        "xlsx_target": XLSX_TARGET,
        "xlsx_ratios": [round(r["ratio"], 3) for r in xlsx_rounds],
        "xlsx_product_s": [round(r["product_xlsx"], 2) for r in xlsx_rounds],
        "xlsx_calamine_s": [round(r["calamine_bare"], 2) for r in xlsx_rounds],
        "xlsx_openpyxl_s": round(times["openpyxl_read_only"], 2),
        "product_vs_openpyxl": round(openpyxl_ratio, 3),
        "peak_rss_mb_during_csv_import": peak_mb,
        "max_rss_mb": max_rss_mb(),
        "same_result": same,
        "ok": bool(same and csv_ratio <= CSV_TARGET and xlsx_ratio <= XLSX_TARGET),
    }
    print(
        f"CSV: median of {rounds} rounds {csv_ratio:.2f}x raw COPY "
        f"({', '.join(f'{r:.2f}' for r in result['csv_ratios'])}; target "
        f"{CSV_TARGET}x); XLSX: {xlsx_ratio:.2f}x calamine "
        f"({', '.join(f'{r:.2f}' for r in result['xlsx_ratios'])}; target "
        f"{XLSX_TARGET}x), {openpyxl_ratio:.2f}x openpyxl; peak RSS {peak_mb} MB; "
        f"same result: {same}"
    )
    return result

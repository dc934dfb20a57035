"""`python -m bench import`: the import pipeline against raw COPY and bare XLSX readers.

CSV: N subscribers + 6 billing cycles (6N rows) through the product (check every row,
COPY the good ones into the snapshot's partition, commit) against a raw `COPY` of the same files into bare typed
tables with no constraints, in the same run. Target: at most 1.5x.

XLSX: N/10 subscriber rows through the product against a bare iteration of the same file
by python-calamine (target: at most 1.5x) and by openpyxl's read-only mode (reported).
"""

from __future__ import annotations

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
    from django.db import connection

    with connection.cursor() as cursor:
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


def run(size: int | None = None) -> dict:
    from django.db import connection

    from eligibility import services
    from eligibility.importers import BILLING_COLUMNS, SUBSCRIBER_COLUMNS
    from eligibility.models import ImportKind

    size = size or 1_000_000
    xlsx_size = max(1000, size // 10)
    print(f"import benchmark, {size:,} subscribers; {machine()}", flush=True)
    subscribers_csv, billing_csv = _files(size)
    xlsx = _xlsx_file(xlsx_size, subscribers_csv)
    _reset_tables()
    with connection.cursor() as cursor:
        cursor.execute("CHECKPOINT")

    times: dict[str, float] = {}
    print("CSV, raw COPY into bare tables:", flush=True)
    with timed("raw_copy_subscribers", times):
        raw_subscribers = _raw_copy(
            subscribers_csv, "bench_raw_subscriber", SUBSCRIBER_COLUMNS
        )
    with timed("raw_copy_billing", times):
        raw_billing = _raw_copy(billing_csv, "bench_raw_billing", BILLING_COLUMNS)
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
    raw_total = times["raw_copy_subscribers"] + times["raw_copy_billing"]
    product_total = times["product_subscribers"] + times["product_billing"]
    csv_ratio = product_total / raw_total

    print(f"XLSX, {xlsx_size:,} rows:", flush=True)
    from python_calamine import CalamineWorkbook

    with timed("calamine_bare", times):
        rows = sum(
            1
            for _ in CalamineWorkbook.from_path(str(xlsx))
            .get_sheet_by_index(0)
            .iter_rows()
        )
    import openpyxl

    with timed("openpyxl_read_only", times):
        book = openpyxl.load_workbook(xlsx, read_only=True)
        openpyxl_rows = sum(1 for _ in book.worksheets[0].iter_rows(values_only=True))
        book.close()
    xlsx_snapshot = services.snapshot_create(
        name="bench-xlsx", taken_on=date(2022, 10, 31)
    )
    with timed("product_xlsx", times):
        job_x = _import(ImportKind.SUBSCRIBERS, xlsx, xlsx_snapshot)
    same = same and job_x.imported_rows == rows - 1 == openpyxl_rows - 1

    xlsx_ratio = times["product_xlsx"] / times["calamine_bare"]
    openpyxl_ratio = times["product_xlsx"] / times["openpyxl_read_only"]
    with connection.cursor() as cursor:
        cursor.execute("DROP TABLE IF EXISTS bench_raw_subscriber, bench_raw_billing")

    result = {
        "name": "import",
        "size": size,
        "billing_rows": raw_billing,
        "ratio": round(csv_ratio, 3),
        "target": CSV_TARGET,
        "csv_product_s": round(product_total, 2),
        "csv_raw_copy_s": round(raw_total, 2),
        "xlsx_rows": xlsx_size,
        "xlsx_ratio": round(xlsx_ratio, 3),
        "xlsx_target": XLSX_TARGET,
        "xlsx_product_s": round(times["product_xlsx"], 2),
        "xlsx_calamine_s": round(times["calamine_bare"], 2),
        "xlsx_openpyxl_s": round(times["openpyxl_read_only"], 2),
        "product_vs_openpyxl": round(openpyxl_ratio, 3),
        "peak_rss_mb_during_csv_import": memory.peak_mb,
        "max_rss_mb": max_rss_mb(),
        "same_result": same,
        "ok": bool(same and csv_ratio <= CSV_TARGET and xlsx_ratio <= XLSX_TARGET),
    }
    print(
        f"CSV: product {product_total:.1f} s vs raw COPY {raw_total:.1f} s = {csv_ratio:.2f}x "
        f"(target {CSV_TARGET}x); XLSX: {xlsx_ratio:.2f}x calamine (target {XLSX_TARGET}x), "
        f"{openpyxl_ratio:.2f}x openpyxl; peak RSS {memory.peak_mb} MB; same result: {same}"
    )
    return result

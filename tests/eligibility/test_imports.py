"""Imports end to end on PostgreSQL: row checks, the rejects, COPY into a partition."""

import csv
import io
import threading
import zipfile
from datetime import date, datetime
from pathlib import Path

import openpyxl
import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import connection

from eligibility import selectors, services
from eligibility.models import (
    BillingRecord,
    DomainError,
    HeaderAlias,
    ImportJob,
    ImportKind,
    NamedList,
    Subscriber,
)
from eligibility.services import _checked_path
from eligibility.spreadsheets import UnreadableFile
from tests.factories import SnapshotFactory, SubscriberFactory

pytestmark = pytest.mark.django_db

SUBSCRIBER_HEADERS = [
    "msisdn",
    "full_name",
    "subscription_type",
    "status",
    "contract_date",
    "customer_type",
    "company",
    "province",
    "district",
    "birth_date",
]


def subscriber_row(msisdn, **overrides):
    row = {
        "msisdn": msisdn,
        "full_name": "Nguyễn Văn An",
        "subscription_type": "postpaid",
        "status": "2C",
        "contract_date": "2001-05-03",
        "customer_type": "individual",
        "company": "2",
        "province": "Hồ Chí Minh",
        "district": "Quận 1",
        "birth_date": "",
    }
    row.update(overrides)
    return row


def write_csv(path: Path, headers, rows, encoding="utf-8") -> Path:
    with open(path, "w", newline="", encoding=encoding, errors="replace") as stream:
        writer = csv.writer(stream)
        writer.writerow(headers)
        for row in rows:
            writer.writerow(
                [
                    row.get(h, "") if isinstance(row, dict) else row[i]
                    for i, h in enumerate(headers)
                ]
            )
    return path


def check(path, *, kind=ImportKind.SUBSCRIBERS, snapshot=None, list_name=""):
    return services.import_file(
        kind=kind, path=path, snapshot=snapshot, list_name=list_name, commit=False
    )


def rejections(job):
    return {
        r["sheet_row"]: r["problems"] for r in selectors.rejected_rows_sample(job, 1000)
    }


def test_good_csv_is_imported_with_numbers_normalised(tmp_path):
    snapshot = SnapshotFactory()
    path = write_csv(
        tmp_path / "tb.csv",
        SUBSCRIBER_HEADERS,
        [
            subscriber_row("0901234567"),
            subscriber_row("84931234567", contract_date="03/05/2001"),
            subscriber_row("+84 89 123 4567", subscription_type="trả trước"),
            subscriber_row("901234568"),  # leading zero lost in a spreadsheet
            subscriber_row("901234569.0"),
            subscriber_row("9.01234570E+8"),
        ],
    )
    job = services.import_file(
        kind=ImportKind.SUBSCRIBERS, path=path, snapshot=snapshot, commit=True
    )

    assert (job.total_rows, job.valid_rows, job.rejected_rows) == (6, 6, 0)
    assert job.status == ImportJob.Status.IMPORTED
    assert set(Subscriber.objects.values_list("msisdn", flat=True)) == {
        "84901234567",
        "84931234567",
        "84891234567",
        "84901234568",
        "84901234569",
        "84901234570",
    }
    second = Subscriber.objects.get(msisdn="84931234567")
    assert second.contract_date == date(2001, 5, 3)
    assert Subscriber.objects.get(msisdn="84891234567").subscription_type == "prepaid"
    snapshot.refresh_from_db()
    assert snapshot.subscriber_count == 6


def test_every_column_type_reaches_the_partition_as_typed(tmp_path):
    # The rows go in COPY's binary format, which must match each column's type:
    # smallint, integer, numeric(4,3), jsonb, dates and flags.
    snapshot = SnapshotFactory()
    headers = [
        *SUBSCRIBER_HEADERS,
        "loyalty_points",
        "vlr_days_7",
        "is_premium",
        "churn_risk",
        "ghi chú",
    ]
    risks = ["0.12345", "0,5", "0.9995", ".0005", "1", "0.00049999999999", ""]
    rows = [
        subscriber_row(
            f"090123456{i}",
            company=str(i + 1),
            loyalty_points="2000000000" if i == 0 else str(i),
            vlr_days_7=str(i),
            is_premium="có" if i % 2 else "0",
            churn_risk=risk,
            birth_date="1999-02-28" if i == 0 else "",
            **{"ghi chú": 'Khách "VIP"\\ số 1' if i == 0 else ""},
        )
        for i, risk in enumerate(risks)
    ]
    path = write_csv(tmp_path / "tb.csv", headers, rows)

    job = services.import_file(
        kind=ImportKind.SUBSCRIBERS, path=path, snapshot=snapshot, commit=True
    )

    assert (job.valid_rows, job.rejected_rows) == (7, 0)
    got = {
        s.msisdn[-1]: s
        for s in Subscriber.objects.filter(snapshot=snapshot).order_by("msisdn")
    }
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT x::numeric(4,3) FROM unnest(%s::text[]) x",
            [[r.replace(",", ".") or None for r in risks]],
        )
        as_postgres_rounds = [row[0] for row in cursor.fetchall()]
    assert [got[str(i)].churn_risk for i in range(7)] == as_postgres_rounds
    assert [got[str(i)].company for i in range(7)] == [1, 2, 3, 4, 5, 6, 7]
    assert got["0"].loyalty_points == 2_000_000_000
    assert [got[str(i)].vlr_days_7 for i in range(7)] == list(range(7))
    assert [got[str(i)].is_premium for i in range(3)] == [False, True, False]
    assert got["0"].birth_date == date(1999, 2, 28)
    assert got["1"].birth_date is None
    assert got["0"].contract_date == date(2001, 5, 3)
    assert got["0"].full_name == "Nguyễn Văn An"
    assert got["0"].extra == {"ghi chú": 'Khách "VIP"\\ số 1'}
    assert got["1"].extra == {}


def test_bad_rows_are_reported_with_row_numbers_and_reasons(tmp_path):
    snapshot = SnapshotFactory()
    path = write_csv(
        tmp_path / "tb.csv",
        SUBSCRIBER_HEADERS,
        [
            subscriber_row("0901234567"),
            subscriber_row("09012"),
            subscriber_row("0901234567"),
            subscriber_row("0911111111", contract_date="31/02/2010"),
            subscriber_row("0922222222", status="ACTIVE"),
            subscriber_row("9.01235E+08"),  # Excel kept only six digits
            subscriber_row("0933333333", company="12"),
        ],
    )
    job = check(path, snapshot=snapshot)

    assert (job.total_rows, job.valid_rows, job.rejected_rows) == (7, 1, 6)
    problems = rejections(job)
    assert set(problems) == {3, 4, 5, 6, 7, 8}
    assert "msisdn" in problems[3]
    assert "2" in problems[4]  # repeats the number of row 2
    assert "contract_date" in problems[5]
    assert "status" in problems[6]
    assert "msisdn" in problems[7]
    assert "company" in problems[8]
    assert not Subscriber.objects.exists()


def test_accepting_a_checked_file_marks_it_importing_until_a_worker_imports_it(
    tmp_path,
):
    snapshot = SnapshotFactory()
    path = write_csv(
        tmp_path / "tb.csv", SUBSCRIBER_HEADERS, [subscriber_row("0901234567")]
    )
    job = check(path, snapshot=snapshot)

    job = services.import_job_accept(job=job)

    assert job.status == ImportJob.Status.IMPORTING
    assert not Subscriber.objects.exists()
    with pytest.raises(
        DomainError, match="Chỉ có thể nhập dữ liệu từ tệp đã được kiểm tra"
    ):
        services.import_job_accept(job=job)
    job = services.import_job_commit(job_id=job.pk)
    assert job.status == ImportJob.Status.IMPORTED
    assert Subscriber.objects.get().msisdn == "84901234567"


def test_imported_count_is_the_rows_stored_when_numbers_repeat(tmp_path):
    # The commit takes its count from the check; repeated and bad rows must not be
    # counted, whichever problem they were refused for first.
    snapshot = SnapshotFactory()
    path = write_csv(
        tmp_path / "tb.csv",
        SUBSCRIBER_HEADERS,
        [
            subscriber_row("0901234567"),
            subscriber_row("0901234568"),
            subscriber_row("0901234567"),  # repeats row 2
            subscriber_row("0901234567", company="12"),  # repeats it and is wrong
            subscriber_row("bad"),
        ],
    )
    job = check(path, snapshot=snapshot)
    job = services.import_job_commit(job_id=job.pk)

    snapshot.refresh_from_db()
    stored = Subscriber.objects.filter(snapshot=snapshot).count()
    assert (job.valid_rows, job.rejected_rows) == (2, 3)
    assert job.imported_rows == stored == snapshot.subscriber_count == 2


def test_good_rows_only_are_imported_when_staff_accept(tmp_path):
    snapshot = SnapshotFactory()
    path = write_csv(
        tmp_path / "tb.csv",
        SUBSCRIBER_HEADERS,
        [
            subscriber_row("0901234567"),
            subscriber_row("bad"),
            subscriber_row("0901234568"),
        ],
    )
    job = check(path, snapshot=snapshot)
    job = services.import_job_commit(job_id=job.pk)

    assert job.imported_rows == 2
    assert sorted(Subscriber.objects.values_list("msisdn", flat=True)) == [
        "84901234567",
        "84901234568",
    ]
    assert not _checked_path(job.pk).exists()
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT to_regclass(%s)", [f"eligibility_subscriber_job{job.pk}"]
        )
        assert cursor.fetchone()[0] is None


def test_missing_required_column_is_refused_naming_it(tmp_path):
    snapshot = SnapshotFactory()
    headers = [h for h in SUBSCRIBER_HEADERS if h != "contract_date"]
    path = write_csv(tmp_path / "tb.csv", headers, [subscriber_row("0901234567")])

    with pytest.raises(DomainError, match="contract_date"):
        check(path, snapshot=snapshot)
    assert not Subscriber.objects.exists()


def test_file_in_another_encoding_is_refused_and_nothing_is_kept(tmp_path):
    snapshot = SnapshotFactory()
    path = write_csv(
        tmp_path / "tb.csv",
        SUBSCRIBER_HEADERS,
        [
            subscriber_row("0901234567", full_name="Ngo Van An"),
            subscriber_row("0901234568", full_name="Lê Thị Bé"),
        ],
        encoding="cp1258",
    )
    with pytest.raises(UnreadableFile, match="UTF-8"):
        check(path, snapshot=snapshot)
    assert not ImportJob.objects.exists()


def test_a_broken_row_deep_in_a_large_file_fails_the_check_and_leaves_nothing(
    tmp_path,
):
    # Far enough in that batches are being checked on the thread pool and COPYed
    # by the writer thread when the reader meets the row: every thread stops, the
    # half-loaded table goes, and the message shows the row.
    snapshot = SnapshotFactory()
    rows = [subscriber_row(f"09{i:08d}") for i in range(120_000)]
    path = write_csv(tmp_path / "tb.csv", SUBSCRIBER_HEADERS, rows)
    with open(path, "a", encoding="utf-8") as stream:
        stream.write("0912345678,Trần Văn Lỗi,postpaid\n")
        stream.write("0912345679,Sau Lỗi,postpaid,2C,2001-05-03,individual,2,HCM,Q1,\n")
    threads_before = threading.active_count()

    with pytest.raises(UnreadableFile, match="Trần Văn Lỗi"):
        check(path, snapshot=snapshot)

    job = ImportJob.objects.get()
    assert job.status == ImportJob.Status.FAILED
    assert "Trần Văn Lỗi" in job.error
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT count(*) FROM pg_class WHERE relname LIKE %s",
            [f"eligibility_subscriber_job{job.pk}%"],
        )
        assert cursor.fetchone()[0] == 0
    assert not Subscriber.objects.filter(snapshot=snapshot).exists()
    assert threading.active_count() == threads_before


def large_file_with(tmp_path, tail: bytes) -> Path:
    """120.000 good subscriber rows (lines 2 to 120.001), then `tail` from line 120.002.

    Far enough in that the fast reading has handed batches on before it meets the
    tail and the file is read again the careful way.
    """
    rows = [subscriber_row(f"09{i:08d}") for i in range(120_000)]
    path = write_csv(tmp_path / "tb.csv", SUBSCRIBER_HEADERS, rows)
    with open(path, "ab") as stream:
        stream.write(tail)
    return path


@pytest.mark.parametrize("blank", [b"\n", b"  \t\n"], ids=["empty", "spaces"])
def test_a_blank_line_deep_in_a_large_file_keeps_every_row_once_and_its_number(
    tmp_path, blank
):
    # Arrow reads an empty line as a row of empty cells; a line of spaces makes it
    # stop, and the file is read again the careful way, skipping the rows handed on.
    snapshot = SnapshotFactory()
    after = write_csv(
        tmp_path / "after.csv",
        SUBSCRIBER_HEADERS,
        [subscriber_row("0000"), subscriber_row("0987654321")],
    ).read_bytes()
    tail = blank + after.split(b"\n", 1)[1].replace(b"\r\n", b"\n")
    path = large_file_with(tmp_path, tail)

    job = check(path, snapshot=snapshot)

    assert (job.total_rows, job.valid_rows, job.rejected_rows) == (120_002, 120_001, 1)
    assert list(rejections(job)) == [120_003]
    services.import_job_commit(job_id=job.pk)
    assert Subscriber.objects.filter(snapshot=snapshot).count() == 120_001
    assert Subscriber.objects.filter(msisdn="84987654321").exists()


@pytest.mark.parametrize(
    "bad_byte, named",
    [(b"\x00", "byte NUL"), (b"\xe9", "UTF-8")],
    ids=["nul", "latin1"],
)
def test_a_bad_byte_deep_in_a_large_file_is_refused_naming_its_line(
    tmp_path, bad_byte, named
):
    snapshot = SnapshotFactory()
    path = large_file_with(tmp_path, b"0912345678,L" + bad_byte + b"i,postpaid\n")

    with pytest.raises(UnreadableFile, match=named) as refused:
        check(path, snapshot=snapshot)

    assert "120002" in str(refused.value).replace(".", "").replace(",", "")
    assert not Subscriber.objects.filter(snapshot=snapshot).exists()


def test_text_file_renamed_xlsx_is_refused(tmp_path):
    snapshot = SnapshotFactory()
    path = tmp_path / "tb.xlsx"
    path.write_text("msisdn,full_name\n0901234567,An\n", encoding="utf-8")
    with pytest.raises(UnreadableFile, match="tb.xlsx"):
        check(path, snapshot=snapshot)
    assert not ImportJob.objects.exists()


def test_zip_bomb_is_refused_by_size_before_parsing(tmp_path, settings):
    settings.IMPORT_XLSX_MAX_TOTAL_BYTES = 50 * 1024**2
    settings.IMPORT_XLSX_MAX_ENTRY_BYTES = 50 * 1024**2
    snapshot = SnapshotFactory()
    path = tmp_path / "bomb.xlsx"
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("[Content_Types].xml", "<Types/>")
        archive.writestr("xl/workbook.xml", "<workbook/>")
        with archive.open("xl/worksheets/sheet1.xml", "w", force_zip64=True) as entry:
            block = b"\0" * (1 << 20)
            for _ in range(100):  # 100 MB that deflate to about 100 KB
                entry.write(block)
    assert path.stat().st_size < 1024**2

    with pytest.raises(UnreadableFile) as refused:
        check(path, snapshot=snapshot)
    assert "MB" in str(refused.value) or "size" in str(refused.value).lower()
    assert not ImportJob.objects.exists()


def _xlsx(path: Path, headers, rows) -> Path:
    book = openpyxl.Workbook()
    sheet = book.active
    sheet.append(headers)
    for row in rows:
        sheet.append(row)
    book.save(path)
    return path


def test_xlsx_numbers_stored_as_numbers_are_read_as_msisdns(tmp_path):
    snapshot = SnapshotFactory()
    base = subscriber_row("")
    values = [base[h] for h in SUBSCRIBER_HEADERS[1:]]
    path = _xlsx(
        tmp_path / "tb.xlsx",
        SUBSCRIBER_HEADERS,
        [
            [901234567, *values],
            [901234568.0, *values],
            ["9.01234569E+8", *values],
            ["0901234570", *values],
        ],
    )
    job = services.import_file(
        kind=ImportKind.SUBSCRIBERS, path=path, snapshot=snapshot, commit=True
    )
    assert job.rejected_rows == 0
    # import_file hands the rows from the parse straight to the check: no cache.
    assert not services._sheet_cache_path(job.pk).exists()
    assert sorted(Subscriber.objects.values_list("msisdn", flat=True)) == [
        "84901234567",
        "84901234568",
        "84901234569",
        "84901234570",
    ]


def test_xlsx_cells_of_every_kind_and_a_blank_row_keep_values_and_row_numbers(
    tmp_path,
):
    # The sheet is read a column at a time: a column of text is taken as it is, a
    # column mixing numbers, dates and text is converted cell by cell.
    snapshot = SnapshotFactory()
    base = subscriber_row("")
    headers = [*SUBSCRIBER_HEADERS, "loyalty_points"]
    row = {**base, "loyalty_points": "7"}

    def cells(msisdn, **changes):
        values = {**row, **changes}
        return [msisdn, *(values[h] for h in headers[1:])]

    path = _xlsx(
        tmp_path / "tb.xlsx",
        headers,
        [
            cells("0901234567", contract_date=datetime(2019, 8, 27), loyalty_points=12),
            cells(" 0901234568 ", full_name="  Trần Thị Bình  ", loyalty_points=3.0),
            [None] * len(headers),  # a blank row in the middle: row 4
            cells("0901234569", contract_date="31/02/2010"),  # row 5: no such day
        ],
    )

    job = services.import_file(
        kind=ImportKind.SUBSCRIBERS, path=path, snapshot=snapshot, commit=True
    )

    assert (job.valid_rows, job.rejected_rows) == (2, 1)
    assert list(rejections(job)) == [5]
    got = {s.msisdn: s for s in Subscriber.objects.filter(snapshot=snapshot)}
    assert got["84901234567"].contract_date == date(2019, 8, 27)
    assert got["84901234567"].loyalty_points == 12
    assert got["84901234568"].full_name == "Trần Thị Bình"
    assert got["84901234568"].loyalty_points == 3


def test_xlsx_declaring_a_million_rows_but_filling_ten_reads_ten(tmp_path):
    snapshot = SnapshotFactory()
    base = subscriber_row("")
    values = [base[h] for h in SUBSCRIBER_HEADERS[1:]]
    small = _xlsx(
        tmp_path / "small.xlsx",
        SUBSCRIBER_HEADERS,
        [[f"09012345{n:02d}", *values] for n in range(10)],
    )
    path = tmp_path / "declared.xlsx"
    with zipfile.ZipFile(small) as source, zipfile.ZipFile(path, "w") as target:
        for item in source.infolist():
            data = source.read(item)
            if item.filename == "xl/worksheets/sheet1.xml":
                text = data.decode()
                start = text.index("<dimension")
                end = text.index("/>", start) + 2
                text = text[:start] + '<dimension ref="A1:J1048576"/>' + text[end:]
                data = text.encode()
            target.writestr(item, data)

    job = check(path, snapshot=snapshot)
    assert (job.total_rows, job.valid_rows) == (10, 10)


def test_points_too_big_for_the_column_are_a_rejected_row(tmp_path):
    headers = [*SUBSCRIBER_HEADERS, "loyalty_points"]
    rows = [
        subscriber_row("0901000001", loyalty_points="2147483647"),
        subscriber_row("0901000002", loyalty_points="3000000000"),
    ]
    path = write_csv(tmp_path / "tb.csv", headers, rows)
    job = check(path, snapshot=SnapshotFactory())
    problems = rejections(job)
    assert set(problems) == {3}
    assert "loyalty_points" in problems[3]
    services.import_job_commit(job_id=job.pk)
    assert Subscriber.objects.get().loyalty_points == 2147483647


def test_billing_negative_revenue_and_bad_cycle_are_rejected(tmp_path):
    snapshot = SnapshotFactory()
    headers = ["msisdn", "cycle", "revenue_total", "revenue_voice"]
    path = write_csv(
        tmp_path / "cuoc.csv",
        headers,
        [
            ["0901234567", "2022-10", "500000", "200000"],
            ["0901234567", "2022-09", "-1000", "0"],
            ["0901234567", "2022-13", "1000", "0"],
            ["0901234567", "2022-10", "1000", "0"],
            ["0901234567", "09/2022", "abc", "0"],
        ],
    )
    job = check(path, kind=ImportKind.BILLING, snapshot=snapshot)
    problems = rejections(job)
    assert set(problems) == {3, 4, 5, 6}
    assert "revenue_total" in problems[3]
    assert "cycle" in problems[4]
    assert "2" in problems[5]
    assert "revenue_total" in problems[6]

    services.import_job_commit(job_id=job.pk)
    record = BillingRecord.objects.get()
    assert (record.cycle, record.revenue_total) == (date(2022, 10, 1), 500000)


def test_same_file_twice_changes_nothing(tmp_path):
    snapshot = SnapshotFactory()
    path = write_csv(
        tmp_path / "tb.csv", SUBSCRIBER_HEADERS, [subscriber_row("0901234567")]
    )
    first = services.import_file(
        kind=ImportKind.SUBSCRIBERS, path=path, snapshot=snapshot, commit=True
    )
    before = list(Subscriber.objects.values_list("pk", "msisdn"))
    second = services.import_file(
        kind=ImportKind.SUBSCRIBERS, path=path, snapshot=snapshot, commit=True
    )

    assert first.imported_rows == 1
    assert second.unchanged is True
    assert list(Subscriber.objects.values_list("pk", "msisdn")) == before


def test_failed_commit_leaves_previous_data_as_it_was(tmp_path):
    snapshot = SnapshotFactory()
    old = write_csv(
        tmp_path / "old.csv", SUBSCRIBER_HEADERS, [subscriber_row("0901234567")]
    )
    services.import_file(
        kind=ImportKind.SUBSCRIBERS, path=old, snapshot=snapshot, commit=True
    )
    new = write_csv(
        tmp_path / "new.csv",
        SUBSCRIBER_HEADERS,
        [subscriber_row("0911111111"), subscriber_row("0922222222")],
    )
    job = check(new, snapshot=snapshot)
    # The loaded rows are damaged before the commit (moved to another snapshot, past
    # the check that guards them): ATTACH finds rows outside the partition's bound
    # inside the commit's transaction.
    loading = f"eligibility_subscriber_job{job.pk}"
    with connection.cursor() as cursor:
        cursor.execute(f"ALTER TABLE {loading} DROP CONSTRAINT {loading}_bound")
        cursor.execute(f"UPDATE {loading} SET snapshot_id = snapshot_id + 1000")

    with pytest.raises(Exception):  # noqa: B017 - the database's own error
        services.import_job_commit(job_id=job.pk)

    assert list(Subscriber.objects.values_list("msisdn", flat=True)) == ["84901234567"]
    job.refresh_from_db()
    assert job.status == ImportJob.Status.VALIDATED
    assert job.error


def test_discarding_imports_nothing(tmp_path):
    snapshot = SnapshotFactory()
    path = write_csv(
        tmp_path / "tb.csv", SUBSCRIBER_HEADERS, [subscriber_row("0901234567")]
    )
    job = check(path, snapshot=snapshot)
    services.import_job_discard(job=job)
    assert not Subscriber.objects.exists()
    with pytest.raises(DomainError):
        services.import_job_commit(job_id=job.pk)


def test_snapshots_are_kept_side_by_side(tmp_path):
    october, november = SnapshotFactory(), SnapshotFactory()
    a = write_csv(
        tmp_path / "a.csv", SUBSCRIBER_HEADERS, [subscriber_row("0901234567")]
    )
    b = write_csv(
        tmp_path / "b.csv",
        SUBSCRIBER_HEADERS,
        [subscriber_row("0901234567", status="1C"), subscriber_row("0901234568")],
    )
    services.import_file(
        kind=ImportKind.SUBSCRIBERS, path=a, snapshot=october, commit=True
    )
    services.import_file(
        kind=ImportKind.SUBSCRIBERS, path=b, snapshot=november, commit=True
    )

    assert october.subscribers.get().status == "2C"
    assert november.subscribers.count() == 2
    assert november.subscribers.get(msisdn="84901234567").status == "1C"


def test_vietnamese_headers_are_mapped_and_the_mapping_remembered(tmp_path):
    snapshot = SnapshotFactory()
    headers = [
        "Số thuê bao",
        "Họ tên",
        "Kiểu thuê bao",
        "Trạng thái",
        "Ngày hòa mạng",
        "Loại KH",
        "Công ty",
        "Tỉnh",
        "Quận/Huyện",
        "Mã vùng riêng",
    ]
    path = write_csv(
        tmp_path / "vi.csv",
        headers,
        [
            [
                "0901234567",
                "Trần Thị Bích",
                "trả sau",
                "2C",
                "03/05/2001",
                "KHCN",
                "2",
                "Hồ Chí Minh",
                "Quận 3",
                "X1",
            ]
        ],
    )
    job = services.import_job_create(
        kind=ImportKind.SUBSCRIBERS,
        source=path,
        original_name=path.name,
        snapshot=snapshot,
    )
    # "Kiểu thuê bao" is not a known spelling: staff map it once.
    assert "subscription_type" not in job.column_map
    column_map = {**job.column_map, "subscription_type": 2}
    services.import_job_set_mapping(job=job, column_map=column_map)
    # Staff land on a page that follows the check even before a worker starts it.
    job.refresh_from_db()
    assert job.is_running and job.status == "validating"
    assert HeaderAlias.objects.filter(
        header_key="kieu thue bao", field="subscription_type"
    ).exists()

    job = services.import_job_validate(job_id=job.pk)
    services.import_job_commit(job_id=job.pk)
    subscriber = Subscriber.objects.get()
    assert subscriber.full_name == "Trần Thị Bích"
    assert subscriber.extra == {"Mã vùng riêng": "X1"}

    again = services.import_job_create(
        kind=ImportKind.SUBSCRIBERS,
        source=path,
        original_name=path.name,
        snapshot=snapshot,
    )
    assert again.column_map["subscription_type"] == 2


def test_named_list_replaces_its_entries(tmp_path):
    first = write_csv(
        tmp_path / "l1.csv",
        ["msisdn", "ghi chu"],
        [["0901234567", "a"], ["0901234568", "b"]],
    )
    second = write_csv(tmp_path / "l2.csv", ["msisdn"], [["0901234569"]])
    services.import_file(
        kind=ImportKind.NAMED_LIST, path=first, list_name="DS KH lâu năm", commit=True
    )
    named = NamedList.objects.get(name="DS KH lâu năm")
    assert named.entry_count == 2
    assert named.entries.get(msisdn="84901234567").attributes == {"ghi chu": "a"}

    services.import_file(
        kind=ImportKind.NAMED_LIST, path=second, list_name="DS KH lâu năm", commit=True
    )
    named.refresh_from_db()
    assert list(named.entries.values_list("msisdn", flat=True)) == ["84901234569"]


def test_rejected_rows_file_neutralises_formulas(tmp_path):
    snapshot = SnapshotFactory()
    path = write_csv(
        tmp_path / "tb.csv",
        SUBSCRIBER_HEADERS,
        [subscriber_row('=HYPERLINK("x")')],
    )
    job = check(path, snapshot=snapshot)
    text = "".join(selectors.rejected_rows_csv(job))
    rows = list(csv.reader(io.StringIO(text.lstrip("\ufeff"))))
    assert rows[1][0] == "2"
    assert "msisdn" in rows[1][1]
    assert rows[1][2].startswith("'=")


def test_command_checks_then_imports_with_commit(tmp_path):
    path = write_csv(
        tmp_path / "tb.csv",
        SUBSCRIBER_HEADERS,
        [subscriber_row("0901234567"), subscriber_row("x")],
    )
    out = io.StringIO()
    call_command(
        "import_snapshot",
        "--snapshot",
        "T10",
        "--taken-on",
        "2022-10-31",
        "--subscribers",
        str(path),
        stdout=out,
    )
    assert not Subscriber.objects.exists()
    assert "1" in out.getvalue()

    out = io.StringIO()
    call_command(
        "import_snapshot",
        "--snapshot",
        "T10",
        "--subscribers",
        str(path),
        "--commit",
        stdout=out,
    )
    subscriber = Subscriber.objects.get()
    assert subscriber.msisdn == "84901234567"
    # The file has no column beyond ours: the row takes the table's empty object.
    assert subscriber.extra == {}


def test_command_refuses_unknown_snapshot_without_date(tmp_path):
    path = write_csv(
        tmp_path / "tb.csv", SUBSCRIBER_HEADERS, [subscriber_row("0901234567")]
    )
    with pytest.raises(CommandError, match="T11"):
        call_command("import_snapshot", "--snapshot", "T11", "--subscribers", str(path))


def test_each_snapshot_gets_its_own_partition_and_deleting_drops_it(tmp_path):
    snapshot = SnapshotFactory()
    path = write_csv(
        tmp_path / "tb.csv", SUBSCRIBER_HEADERS, [subscriber_row("0901234567")]
    )
    services.import_file(
        kind=ImportKind.SUBSCRIBERS, path=path, snapshot=snapshot, commit=True
    )
    partition = f"eligibility_subscriber_s{snapshot.pk}"
    with connection.cursor() as cursor:
        cursor.execute("SELECT to_regclass(%s)", [partition])
        assert cursor.fetchone()[0] == partition
        # The indexes built while checking are the ones attached: no second copy.
        cursor.execute(
            "SELECT count(*) FROM pg_indexes WHERE tablename = %s", [partition]
        )
        assert cursor.fetchone()[0] == 2

    services.snapshot_delete(snapshot=snapshot)

    assert not Subscriber.objects.exists()
    with connection.cursor() as cursor:
        cursor.execute("SELECT to_regclass(%s)", [partition])
        assert cursor.fetchone()[0] is None


def test_billing_partition_is_keyed_by_number_and_cycle_alone(tmp_path):
    # The partition holds one snapshot: its unique key leaves the snapshot out.
    snapshot = SnapshotFactory()
    path = write_csv(
        tmp_path / "cuoc.csv",
        ["msisdn", "cycle", "revenue_total"],
        [["0901234567", "2022-10", "1000"], ["0901234567", "2022-09", "2000"]],
    )
    services.import_file(
        kind=ImportKind.BILLING, path=path, snapshot=snapshot, commit=True
    )
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT indexdef FROM pg_indexes WHERE tablename = %s",
            [f"eligibility_billingrecord_s{snapshot.pk}"],
        )
        definitions = [definition for (definition,) in cursor.fetchall()]
    assert len(definitions) == 1
    assert "UNIQUE" in definitions[0]
    assert definitions[0].endswith("(msisdn, cycle)")


def test_billing_rows_written_through_the_orm_still_cannot_repeat():
    # The DEFAULT partition holds rows of many snapshots and keeps the full key.
    from django.db import IntegrityError, transaction

    snapshot, other = SnapshotFactory(), SnapshotFactory()
    row = {"msisdn": "84901234567", "cycle": date(2022, 10, 1), "revenue_total": 1}
    BillingRecord.objects.create(snapshot=snapshot, **row)
    BillingRecord.objects.create(snapshot=other, **row)
    with pytest.raises(IntegrityError), transaction.atomic():
        BillingRecord.objects.create(snapshot=snapshot, **row)
    assert BillingRecord.objects.count() == 2


def test_rows_written_through_the_orm_land_in_the_default_partition():
    snapshot = SnapshotFactory()
    SubscriberFactory(snapshot=snapshot)
    assert snapshot.subscribers.count() == 1
    services.snapshot_delete(snapshot=snapshot)
    assert not Subscriber.objects.exists()


def test_row_with_missing_cells_refuses_the_file_naming_it(tmp_path):
    snapshot = SnapshotFactory()
    path = tmp_path / "tb.csv"
    good = ",".join(subscriber_row("0901234567")[h] for h in SUBSCRIBER_HEADERS)
    path.write_text(
        ",".join(SUBSCRIBER_HEADERS) + "\n" + good + "\n0901234568,An,postpaid\n",
        encoding="utf-8",
    )
    with pytest.raises(UnreadableFile, match="tb.csv"):
        check(path, snapshot=snapshot)
    job = ImportJob.objects.get()
    assert job.status == ImportJob.Status.FAILED
    assert "tb.csv" in job.error
    assert "0901234568,An,postpaid" in job.error
    assert not Subscriber.objects.exists()

"""The synthetic snapshot generator: format, determinism, realism, injected problems.

No database: the generator only writes files.
"""

import csv
import datetime as dt
import re
from collections import Counter, defaultdict
from decimal import Decimal, InvalidOperation
from io import StringIO
from pathlib import Path

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.utils import translation
from python_calamine import CalamineWorkbook

from eligibility import synthetic
from eligibility.synthetic import generate_snapshot, write_named_list

# Copied from shared/formats/subscriber-data.md, in that document's order.
SUBSCRIBER_HEADER = [
    "msisdn", "full_name", "subscription_type", "status", "contract_date",
    "customer_type", "enterprise_role", "company", "province", "district", "address",
    "birth_date", "nationality", "is_owner", "record_standardized", "is_premium",
    "loyalty_member", "loyalty_tier", "loyalty_points", "line_kind", "vlr_days_7",
    "handset_network", "handset_os", "sim_4g", "payment_method", "package_code",
    "mvas_idle_2m", "has_app", "churn_risk", "ownership_changed_on",
]  # fmt: skip
BILLING_HEADER = [
    "msisdn", "cycle", "revenue_total", "revenue_voice", "revenue_sms",
    "revenue_data", "revenue_excluded", "paid", "debt_blocked", "payment_channel",
]  # fmt: skip
STATUSES = {"2C", "1C", "0C", "CANCELLED"}
MOBIFONE_PREFIXES = {"90", "93", "89", "70", "76", "77", "78", "79"}
SNAPSHOT_DAY = dt.date(2022, 10, 31)
CYCLES = ["2022-05", "2022-06", "2022-07", "2022-08", "2022-09", "2022-10"]
MONEY = ["revenue_total", "revenue_voice", "revenue_sms", "revenue_data"]


def normalise(raw) -> str | None:
    """84 + 9 digits from any spelling the format allows, or None."""
    text = str(raw).strip()
    # Spreadsheet damage: 901234567.0 and 9.01234567E+8 are the same number.
    if re.fullmatch(r"\d+\.0+|[1-9]\.\d+[eE]\+?\d+", text):
        try:
            text = str(int(Decimal(text)))
        except InvalidOperation:
            return None
    digits = re.sub(r"[\s+().-]", "", text)
    if not digits.isdigit():
        return None
    if len(digits) == 10 and digits.startswith("0"):
        digits = "84" + digits[1:]
    elif len(digits) == 9:
        digits = "84" + digits
    return digits if re.fullmatch(r"84\d{9}", digits) else None


def parse_date(text: str) -> dt.date | None:
    for pattern in ("%Y-%m-%d", "%d/%m/%Y"):
        try:
            return dt.datetime.strptime(text, pattern).date()
        except ValueError:
            continue
    return None


def tenure_months(contract: dt.date) -> int:
    months = (SNAPSHOT_DAY.year - contract.year) * 12 + SNAPSHOT_DAY.month
    months -= contract.month
    return months - (1 if SNAPSHOT_DAY.day < contract.day else 0)


def read_csv(path: Path) -> tuple[list[str], list[dict[str, str]]]:
    with path.open(encoding="utf-8", newline="") as f:
        reader = csv.DictReader(f)
        return list(reader.fieldnames), list(reader)


@pytest.fixture(scope="module")
def clean(tmp_path_factory):
    out = tmp_path_factory.mktemp("clean")
    result = generate_snapshot(out_dir=out, size=5000, seed=7)
    _, subscribers = read_csv(result.subscribers_path)
    _, billing = read_csv(result.billing_path)
    return result, subscribers, billing


@pytest.fixture(scope="module")
def messy(tmp_path_factory):
    out = tmp_path_factory.mktemp("messy")
    result = generate_snapshot(out_dir=out, size=6000, messy_rate=0.05, seed=11)
    _, subscribers = read_csv(result.subscribers_path)
    _, billing = read_csv(result.billing_path)
    return result, subscribers, billing


def test_same_seed_writes_identical_files_and_another_seed_does_not(tmp_path):
    first = generate_snapshot(out_dir=tmp_path / "a", size=1500, messy_rate=0.02)
    again = generate_snapshot(out_dir=tmp_path / "b", size=1500, messy_rate=0.02)
    other = generate_snapshot(out_dir=tmp_path / "c", size=1500, seed=2)

    assert first.subscribers_path.read_bytes() == again.subscribers_path.read_bytes()
    assert first.billing_path.read_bytes() == again.billing_path.read_bytes()
    assert first.messy == again.messy
    assert first.subscribers_path.read_bytes() != other.subscribers_path.read_bytes()


def test_headers_are_the_format_documents_columns_in_order(clean):
    result, _, _ = clean
    assert read_csv(result.subscribers_path)[0] == SUBSCRIBER_HEADER
    assert read_csv(result.billing_path)[0] == BILLING_HEADER
    assert list(synthetic.SUBSCRIBER_COLUMNS) == SUBSCRIBER_HEADER
    assert list(synthetic.BILLING_COLUMNS) == BILLING_HEADER


def test_counts_and_cycles_are_reported(clean):
    result, subscribers, billing = clean
    assert result.subscriber_count == len(subscribers) == 5000
    assert result.billing_count == len(billing)
    assert result.cycles == CYCLES
    assert result.messy == {}


def test_clean_snapshot_msisdns_normalise_and_are_unique(clean):
    _, subscribers, billing = clean
    numbers = [normalise(row["msisdn"]) for row in subscribers]

    assert None not in numbers
    assert len(set(numbers)) == len(numbers)
    assert {n[2:4] for n in numbers} <= MOBIFONE_PREFIXES
    spellings = Counter(
        "plus" if row["msisdn"].startswith("+") else row["msisdn"][:2]
        for row in subscribers
    )
    assert spellings["plus"] and spellings["84"]  # the import must normalise these
    assert {normalise(row["msisdn"]) for row in billing} <= set(numbers)


def test_clean_snapshot_rows_are_valid(clean):
    _, subscribers, _ = clean
    for row in subscribers:
        assert row["status"] in STATUSES
        assert row["subscription_type"] in {"prepaid", "postpaid"}
        contract = parse_date(row["contract_date"])
        assert contract is not None
        assert 0 <= tenure_months(contract) <= 360
        if row["birth_date"]:
            assert 1940 <= parse_date(row["birth_date"]).year <= 2006
        assert row["company"] == str(synthetic.PROVINCE_COMPANY[row["province"]])
        assert 0 <= float(row["churn_risk"]) <= 1
        assert 0 <= int(row["vlr_days_7"]) <= 7
        if row["subscription_type"] == "prepaid":
            assert row["payment_method"] == "prepaid_balance"
        assert (row["loyalty_tier"] != "") == (row["loyalty_member"] == "1")


def test_population_looks_like_the_operators(clean):
    _, subscribers, _ = clean
    n = len(subscribers)
    provinces = Counter(row["province"] for row in subscribers)
    share = Counter(row["subscription_type"] for row in subscribers)["prepaid"] / n

    assert provinces.most_common(1)[0][0] == "Hồ Chí Minh"
    assert provinces["Hà Nội"] and provinces["Cần Thơ"]
    assert 0.5 < share < 0.6
    assert {row["company"] for row in subscribers} == {str(c) for c in range(1, 10)}
    districts = {(row["province"], row["district"]) for row in subscribers}
    assert ("Cần Thơ", "Quận Ninh Kiều") in districts
    assert ("Hồ Chí Minh", "Thành phố Thủ Đức") in districts
    names = [row["full_name"] for row in subscribers]
    assert sum(name.startswith("Nguyễn ") for name in names) > n * 0.25
    assert any("ễ" in name or "ư" in name or "ạ" in name for name in names)


def test_some_subscribers_qualify_for_programme_000(clean):
    _, subscribers, _ = clean
    qualifying = [
        row
        for row in subscribers
        if tenure_months(parse_date(row["contract_date"])) >= 240
        and row["status"] == "2C"
        and row["loyalty_member"] == "0"
        and row["is_premium"] == "0"
        and row["line_kind"] == "normal"
        and row["province"] == "Hồ Chí Minh"
    ]
    assert len(qualifying) >= 5


def test_some_mekong_subscribers_qualify_for_programme_003(clean):
    _, subscribers, _ = clean
    qualifying = [
        row
        for row in subscribers
        if row["status"] == "2C"
        and row["handset_network"] in {"4G", "5G"}
        and row["handset_os"] in {"iOS", "Android"}
        and row["sim_4g"] == "0"
        and row["vlr_days_7"] == "7"
        and row["district"]
        in synthetic.MEKONG_CENTRAL_DISTRICTS.get(row["province"], ())
    ]
    assert qualifying


def test_billing_has_at_most_one_row_per_cycle_and_consistent_amounts(clean):
    _, subscribers, billing = clean
    contract_month = {
        normalise(row["msisdn"]): parse_date(row["contract_date"]).strftime("%Y-%m")
        for row in subscribers
    }
    cycles_by_line = defaultdict(list)
    for row in billing:
        number = normalise(row["msisdn"])
        cycles_by_line[number].append(row["cycle"])
        total, voice, sms, data = (int(row[column]) for column in MONEY)
        excluded = int(row["revenue_excluded"])
        assert min(total, voice, sms, data, excluded) >= 0
        assert voice + sms + data + excluded <= total
        assert row["cycle"] >= contract_month[number]
        assert row["paid"] in {"0", "1"} and row["debt_blocked"] in {"0", "1"}

    for cycles in cycles_by_line.values():
        assert len(cycles) == len(set(cycles)) <= len(CYCLES)
        assert set(cycles) <= set(CYCLES)
    totals = [int(row["revenue_total"]) for row in billing]
    assert max(totals) > 1_000_000  # a long tail of big spenders


def test_messy_rows_are_reported_per_kind(messy):
    result, subscribers, billing = messy
    assert set(result.messy) == set(synthetic.MESSY_KINDS)
    assert result.subscriber_count == len(subscribers) == 6000
    assert result.billing_count == len(billing)

    numbers = [normalise(row["msisdn"]) for row in subscribers]
    seen = set()
    repeats = 0
    for number in numbers:
        if number is not None and number in seen:
            repeats += 1
        seen.add(number)
    numeric = [
        row["msisdn"]
        for row in subscribers
        if not row["msisdn"].startswith(("0", "84", "+84")) and normalise(row["msisdn"])
    ]
    bad_dates = [
        row
        for row in subscribers
        if parse_date(row["contract_date"]) is None
        or (row["birth_date"] and parse_date(row["birth_date"]) is None)
    ]

    assert numbers.count(None) == result.messy["bad_msisdn"]
    assert repeats == result.messy["duplicate_msisdn"]
    assert len(numeric) == result.messy["numeric_msisdn"]
    assert len(bad_dates) == result.messy["bad_date"]
    unknown = [row for row in subscribers if row["status"] not in STATUSES]
    assert len(unknown) == result.messy["unknown_status"]
    negative = [row for row in billing if int(row["revenue_total"]) < 0]
    assert len(negative) == result.messy["negative_revenue"]
    assert all(kind_count > 0 for kind_count in result.messy.values())
    assert 0.03 * 6000 < sum(result.messy.values()) < 0.07 * 6000


def test_numeric_msisdns_are_valid_once_normalised(messy):
    _, subscribers, _ = messy
    spellings = [
        row["msisdn"]
        for row in subscribers
        if not row["msisdn"].startswith(("0", "84", "+84")) and normalise(row["msisdn"])
    ]
    assert any(s.endswith(".0") for s in spellings)
    assert any("E+" in s for s in spellings)
    assert any(s.isdigit() and len(s) == 9 for s in spellings)


def test_xlsx_snapshot_opens_with_calamine_and_matches_the_csv(tmp_path):
    xlsx = generate_snapshot(out_dir=tmp_path / "x", size=400, file_format="xlsx")
    as_csv = generate_snapshot(out_dir=tmp_path / "c", size=400)

    sheet = CalamineWorkbook.from_path(str(xlsx.subscribers_path))
    rows = sheet.get_sheet_by_index(0).to_python()
    bills = CalamineWorkbook.from_path(str(xlsx.billing_path))
    bill_rows = bills.get_sheet_by_index(0).to_python()

    assert xlsx.subscribers_path.suffix == ".xlsx"
    assert rows[0] == SUBSCRIBER_HEADER
    assert bill_rows[0] == BILLING_HEADER
    assert len(rows) - 1 == xlsx.subscriber_count == 400
    assert len(bill_rows) - 1 == xlsx.billing_count == as_csv.billing_count
    _, csv_rows = read_csv(as_csv.subscribers_path)
    assert [normalise(row[0]) for row in rows[1:]] == [
        normalise(row["msisdn"]) for row in csv_rows
    ]
    assert isinstance(rows[1][4], dt.date)  # contract dates are date cells


def test_xlsx_refuses_more_rows_than_a_sheet_holds(tmp_path):
    with pytest.raises(ValueError, match="XLSX"):
        generate_snapshot(out_dir=tmp_path, size=200_000, cycles=6, file_format="xlsx")
    assert not list(tmp_path.iterdir())


@pytest.mark.parametrize(
    "arguments",
    [
        {"size": 0},
        {"size": 10, "cycles": 0},
        {"size": 10, "last_cycle": "2022-13"},
        {"size": 10, "last_cycle": "10/2022"},
        {"size": 10, "last_cycle": "1990-01"},
        {"size": 10, "cycles": 121},
        {"size": 10, "messy_rate": 1.5},
        {"size": 10, "file_format": "ods"},
    ],
)
def test_bad_arguments_are_refused(tmp_path, arguments):
    with pytest.raises(ValueError):
        generate_snapshot(out_dir=tmp_path, **arguments)


def test_progress_reports_the_end(tmp_path):
    calls = []
    generate_snapshot(
        out_dir=tmp_path,
        size=1200,
        progress=lambda done, total: calls.append((done, total)),
    )
    assert calls == [(1200, 1200)]


def test_cycles_end_at_last_cycle_across_a_year_boundary(tmp_path):
    result = generate_snapshot(
        out_dir=tmp_path, size=300, cycles=12, last_cycle="2019-08"
    )
    assert result.cycles[0] == "2018-09" and result.cycles[-1] == "2019-08"
    _, billing = read_csv(result.billing_path)
    assert {row["cycle"] for row in billing} <= set(result.cycles)


def test_write_named_list_writes_msisdns_and_attributes(tmp_path):
    path = tmp_path / "ds-kh-lau-nam.csv"
    count = write_named_list(
        path=path,
        msisdns=iter(["0901234567", "84931234567"]),
        attributes={"batch": lambda m: 1, "note": lambda m: f"gọi ra, {m[-4:]}"},
    )

    header, rows = read_csv(path)
    assert count == 2
    assert header == ["msisdn", "batch", "note"]
    assert rows[1] == {"msisdn": "84931234567", "batch": "1", "note": "gọi ra, 4567"}


def test_write_named_list_as_xlsx(tmp_path):
    path = tmp_path / "khcc.xlsx"
    assert write_named_list(path=path, msisdns=["0901234567"]) == 1
    rows = CalamineWorkbook.from_path(str(path)).get_sheet_by_index(0).to_python()
    assert rows == [["msisdn"], ["0901234567"]]


def test_command_writes_the_files_and_a_summary(tmp_path):
    out = StringIO()
    with translation.override("en"):
        call_command(
            "generate_snapshot",
            "--out",
            str(tmp_path),
            "--size",
            "700",
            "--cycles",
            "3",
            "--messy-rate",
            "0.02",
            stdout=out,
        )

    text = out.getvalue()
    assert (tmp_path / "subscribers.csv").is_file()
    assert (tmp_path / "billing.csv").is_file()
    assert "700 of 700" in text
    assert "Subscribers: 700 rows" in text
    assert "2022-08 to 2022-10" in text


@pytest.mark.parametrize(
    "arguments",
    [
        ["--size", "0"],
        ["--size", "10", "--last-cycle", "2022-1"],
        ["--size", "10", "--messy-rate", "2"],
        ["--size", "400000", "--format", "xlsx"],
    ],
)
def test_command_refuses_bad_arguments(tmp_path, arguments):
    with pytest.raises(CommandError):
        call_command("generate_snapshot", "--out", str(tmp_path), *arguments)

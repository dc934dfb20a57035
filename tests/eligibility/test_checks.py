"""The cell checks on their own: every spelling staff's files use reads the same.

The date check takes a fast way when a batch holds only ISO and DD/MM/YYYY dates and
a slower one otherwise; both must give the same dates and refuse the same cells.
"""

from datetime import date

import pyarrow as pa
import pytest

from eligibility.checks import typed_value
from eligibility.importers import SUBSCRIBER_COLUMNS

CONTRACT_DATE = next(c for c in SUBSCRIBER_COLUMNS if c.name == "contract_date")


def dates(cells):
    return typed_value(CONTRACT_DATE, pa.array(cells, pa.string())).to_pylist()


def test_iso_and_day_first_dates_in_one_batch_read_as_the_same_dates():
    assert dates(["2019-08-27", "27/08/2019", None, "29/02/2020", "2000-01-01"]) == [
        date(2019, 8, 27),
        date(2019, 8, 27),
        None,
        date(2020, 2, 29),
        date(2000, 1, 1),
    ]


@pytest.mark.parametrize(
    "impossible", ["2021-02-29", "31/02/2010", "2019-13-01", "1850-01-01", "hôm qua"]
)
def test_an_impossible_date_is_refused_and_its_neighbours_still_read(impossible):
    assert dates(["2019-08-27", impossible, "27/08/2019"]) == [
        date(2019, 8, 27),
        None,
        date(2019, 8, 27),
    ]


def test_other_spellings_read_on_the_slower_way():
    assert dates(["2019-8-7", "7/8/2019", "2019-08-27 10:30:00", "27/08/2019"]) == [
        date(2019, 8, 7),
        date(2019, 8, 7),
        date(2019, 8, 27),
        date(2019, 8, 27),
    ]


def check_billing(rows, first_row_no=1):
    """One batch of billing rows (every cell text) through the import's checks."""
    from eligibility.checks import BatchChecker
    from eligibility.importers import BILLING_COLUMNS

    headers = [c.name for c in BILLING_COLUMNS]
    columns = list(zip(*rows, strict=True))
    batch = pa.record_batch(
        [pa.array(column, pa.string()) for column in columns],
        names=[f"c{i}" for i in range(len(headers))],
    )
    checker = BatchChecker(
        kind="billing",
        headers=headers,
        column_map={name: i for i, name in enumerate(headers)},
        extra_name=None,
        collect_keys=False,
    )
    return checker.check(batch, first_row_no)


def billing_row(msisdn="0901234567", total="1000", channel="cash"):
    return [msisdn, "2022-05", total, "0", "0", "0", "0", "1", "0", channel]


@pytest.mark.parametrize(
    "padded", [" 0901234567", "0901234567\t", "\u00a00901234567", "0901234567\u3000"]
)
def test_cells_are_trimmed_of_any_whitespace_even_in_a_clean_batch(padded):
    """Most batches hold no cell to trim and skip the trim; one padded cell, ASCII or
    Unicode (no-break, ideographic space), still reads as the bare value."""
    checked = check_billing([billing_row(), billing_row(padded, channel="bank_online")])
    assert not checked.rejected
    assert checked.good["msisdn"].to_pylist() == ["84901234567", "84901234567"]


def test_empty_and_blank_cells_are_missing_values_with_their_row_numbers():
    checked = check_billing(
        [billing_row(), billing_row(total=""), billing_row(total="  ")],
        first_row_no=41,
    )
    assert [(row, problems) for row, problems, _cells in checked.rejected] == [
        (42, "revenue_total:missing;"),
        (43, "revenue_total:missing;"),
    ]
    assert checked.good["row_no"].to_pylist() == [41]

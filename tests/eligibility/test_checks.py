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

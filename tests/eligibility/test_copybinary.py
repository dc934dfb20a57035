"""Rows written in COPY's binary format reach PostgreSQL with the values they had.

The encoder writes the columns that are fixed-width in a batch as one record and the
others field by field, so the same column may take either way from one batch to the
next within one COPY; both must land in the same place.
"""

from datetime import date
from decimal import Decimal

import psycopg
import pyarrow as pa
import pytest
from django.db import connection

from eligibility import copybinary

pytestmark = pytest.mark.django_db(transaction=True)

TABLE = """
CREATE TABLE copy_probe (
    id bigint NOT NULL,
    small smallint NOT NULL,
    whole integer,
    day date,
    flag boolean NOT NULL,
    code varchar(11) COLLATE "C" NOT NULL,
    name varchar(200),
    risk numeric(4, 3),
    extra jsonb NOT NULL,
    CHECK (small >= 0)
)
"""


@pytest.fixture
def probe_table():
    with connection.cursor() as cursor:
        cursor.execute(TABLE)
    yield
    with connection.cursor() as cursor:
        cursor.execute("DROP TABLE IF EXISTS copy_probe")


def batch(rows: list[dict]) -> pa.Table:
    types = {
        "id": pa.int64(),
        "small": pa.int64(),
        "whole": pa.int64(),
        "day": pa.date32(),
        "flag": pa.bool_(),
        "code": pa.string(),
        "name": pa.string(),
        "risk": pa.string(),
        "extra": pa.string(),
    }
    return pa.table({k: pa.array([r[k] for r in rows], t) for k, t in types.items()})


def copy_batches(batches, *, writer=None):
    with connection.cursor() as cursor:
        catalogue = copybinary.table_columns(cursor, "copy_probe")
        plan = copybinary.CopyPlan(
            [catalogue[name] for name in batches[0].column_names]
        )
        raw = cursor.cursor
        with raw.copy(
            f"COPY copy_probe ({', '.join(plan.column_names)}) FROM STDIN "
            "(FORMAT binary)",
            writer=writer(raw) if writer else None,
        ) as copy:
            copy.write(copybinary.HEADER)
            for one in batches:
                copy.write(memoryview(plan.encode(one)))
            copy.write(copybinary.TRAILER)


def stored():
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT id, small, whole, day, flag, code, name, risk, extra::text "
            "FROM copy_probe ORDER BY id"
        )
        return cursor.fetchall()


def test_a_column_fixed_in_one_batch_and_not_in_the_next_lands_in_place(probe_table):
    first = batch(
        [
            # Every column fixed-width here: one record per row.
            dict(id=1, small=7, whole=2_000_000_000, day=date(2019, 8, 27), flag=True,
                 code="84901234567", name="Nguyễn Văn An", risk="0.12345",
                 extra='{"ghi chú": "VIP"}'),
            dict(id=2, small=0, whole=-5, day=date(2000, 1, 1), flag=False,
                 code="84901234568", name="Trần Thị Bé", risk="1", extra="{}"),
        ]
    )  # fmt: skip
    second = batch(
        [
            # NULLs, text of several lengths, an empty string: field by field.
            dict(id=3, small=9, whole=None, day=None, flag=True, code="8490",
                 name="", risk=None, extra="{}"),
            dict(id=4, small=1, whole=12, day=date(1970, 1, 1), flag=False,
                 code="84901234569", name=None, risk=".0005", extra='{"a": 1}'),
        ]
    )  # fmt: skip

    copy_batches([first, second], writer=copybinary.BatchQueueWriter)

    assert stored() == [
        (1, 7, 2_000_000_000, date(2019, 8, 27), True, "84901234567",
         "Nguyễn Văn An", Decimal("0.123"), '{"ghi chú": "VIP"}'),
        (2, 0, -5, date(2000, 1, 1), False, "84901234568", "Trần Thị Bé",
         Decimal("1.000"), "{}"),
        (3, 9, None, None, True, "8490", "", None, "{}"),
        (4, 1, 12, date(1970, 1, 1), False, "84901234569", None,
         Decimal("0.001"), '{"a": 1}'),
    ]  # fmt: skip


def test_a_row_the_database_refuses_fails_the_whole_copy(probe_table):
    rows = [
        dict(id=i, small=-1 if i == 3 else i, whole=i, day=None, flag=True,
             code="84901234567", name="x", risk=None, extra="{}")
        for i in range(1, 6)
    ]  # fmt: skip

    with pytest.raises(psycopg.errors.CheckViolation):
        copy_batches(
            [batch(rows[:2]), batch(rows[2:])], writer=copybinary.BatchQueueWriter
        )

    assert stored() == []


def test_a_value_too_big_for_its_column_is_refused_before_anything_is_sent(
    probe_table,
):
    rows = [
        dict(id=1, small=70_000, whole=1, day=None, flag=True, code="849",
             name="x", risk=None, extra="{}")
    ]  # fmt: skip

    with pytest.raises(copybinary.UnsupportedColumn, match="small"):
        copy_batches([batch(rows)])

    assert stored() == []

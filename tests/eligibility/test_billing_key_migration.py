"""Migration 0006: billing keys move from the partitioned table to each partition."""

import pytest
from django.db import connection
from django.db.migrations.executor import MigrationExecutor

from eligibility import services
from eligibility.models import ImportKind
from tests.factories import SnapshotFactory

pytestmark = pytest.mark.django_db(transaction=True)

BEFORE = ("eligibility", "0005_msisdn_as_number")
AFTER = ("eligibility", "0006_billing_key_per_partition")


def migrate(target):
    executor = MigrationExecutor(connection)
    executor.migrate([target])


def unique_keys(table: str) -> list[str]:
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT pg_get_constraintdef(oid) FROM pg_constraint "
            "WHERE contype = 'u' AND conrelid = %s::regclass",
            [table],
        )
        return sorted(definition for (definition,) in cursor.fetchall())


def test_keys_move_to_the_partitions_and_back(tmp_path):
    snapshot = SnapshotFactory()
    path = tmp_path / "cuoc.csv"
    path.write_text("msisdn,cycle,revenue_total\n0901234567,2022-10,1000\n")
    services.import_file(
        kind=ImportKind.BILLING, path=path, snapshot=snapshot, commit=True
    )
    partition = f"eligibility_billingrecord_s{snapshot.pk}"
    full = ["UNIQUE (msisdn, cycle, snapshot_id)"]
    try:
        migrate(BEFORE)
        assert unique_keys("eligibility_billingrecord") == full
        assert unique_keys(partition) == full
        assert unique_keys("eligibility_billingrecord_default") == full

        migrate(AFTER)
        assert unique_keys("eligibility_billingrecord") == []
        assert unique_keys(partition) == ["UNIQUE (msisdn, cycle)"]
        assert unique_keys("eligibility_billingrecord_default") == full
    finally:
        migrate(AFTER)

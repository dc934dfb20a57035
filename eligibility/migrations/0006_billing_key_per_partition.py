"""Each billing partition keeps its own unique key, without the snapshot.

The model still declares (msisdn, cycle, snapshot) unique, and it still is: a
snapshot's partition holds that snapshot alone, and the DEFAULT partition, which holds
rows of any snapshot without a partition, keeps the full key. Only the partitioned
table loses its key (see eligibility.partitions.LOADED_KEYS), so the state is left as
it is.
"""

from django.db import migrations

TABLE = "eligibility_billingrecord"
PARENT_KEY = "billing_unique_per_snapshot_line_cycle"


def partitions_of(schema_editor) -> list[str]:
    with schema_editor.connection.cursor() as cursor:
        cursor.execute(
            "SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid "
            "WHERE i.inhparent = %s::regclass",
            [TABLE],
        )
        return [name for (name,) in cursor.fetchall()]


def forwards(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    tables = partitions_of(schema_editor)
    # Dropping the parent's key drops the index of every partition with it.
    schema_editor.execute(f"ALTER TABLE {TABLE} DROP CONSTRAINT IF EXISTS {PARENT_KEY}")
    for table in tables:
        default = table == f"{TABLE}_default"
        key = "msisdn, cycle, snapshot_id" if default else "msisdn, cycle"
        schema_editor.execute(
            f"ALTER TABLE {table} ADD CONSTRAINT {table}_key UNIQUE ({key})"
        )


def backwards(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    tables = partitions_of(schema_editor)
    with schema_editor.connection.cursor() as cursor:
        # An imported partition's key is named after the loading table it was.
        cursor.execute(
            "SELECT conrelid::regclass::text, conname FROM pg_constraint "
            "WHERE contype = 'u' AND conrelid::regclass::text = ANY(%s)",
            [tables],
        )
        keys = cursor.fetchall()
    for table, key in keys:
        schema_editor.execute(f"ALTER TABLE {table} DROP CONSTRAINT {key}")
    schema_editor.execute(
        f"ALTER TABLE {TABLE} ADD CONSTRAINT {PARENT_KEY} "
        "UNIQUE (msisdn, cycle, snapshot_id)"
    )


class Migration(migrations.Migration):
    dependencies = [
        ("eligibility", "0005_msisdn_as_number"),
    ]

    operations = [migrations.RunPython(forwards, backwards)]

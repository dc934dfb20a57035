from django.db import migrations

import eligibility.fields


def convert_loading_tables(apps, schema_editor):
    """Rows checked before this migration wait in loading tables shaped like the old
    partitions; they take the new type too, or attaching them would fail."""
    if schema_editor.connection.vendor != "postgresql":
        return
    with schema_editor.connection.cursor() as cursor:
        cursor.execute(
            "SELECT relname FROM pg_class WHERE relkind = 'r' AND relname ~ "
            "'^eligibility_(subscriber|billingrecord)_job[0-9]+$'"
        )
        for (table,) in cursor.fetchall():
            schema_editor.execute(
                f"ALTER TABLE {table} ALTER COLUMN msisdn TYPE bigint "
                "USING msisdn::bigint"
            )


class Migration(migrations.Migration):
    dependencies = [
        ("eligibility", "0004_unique_keys_number_first"),
    ]

    operations = [
        # The partitioned tables pass the new type on to every snapshot's partition.
        migrations.AlterField(
            model_name="billingrecord",
            name="msisdn",
            field=eligibility.fields.MsisdnNumberField(verbose_name="MSISDN"),
        ),
        migrations.AlterField(
            model_name="subscriber",
            name="msisdn",
            field=eligibility.fields.MsisdnNumberField(verbose_name="MSISDN"),
        ),
        migrations.RunPython(convert_loading_tables, migrations.RunPython.noop),
    ]

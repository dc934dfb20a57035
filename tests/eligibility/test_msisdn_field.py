"""Subscriber and billing numbers are stored as bigint and read as text everywhere."""

from datetime import date

import pytest
from django.db import connection, transaction

from campaigns import roles
from eligibility.models import BillingRecord, Subscriber
from tests.conftest import user_in_role
from tests.factories import SnapshotFactory, SubscriberFactory

pytestmark = pytest.mark.django_db


def test_numbers_are_stored_as_numbers_and_read_back_as_text():
    snapshot = SnapshotFactory()
    SubscriberFactory(snapshot=snapshot, msisdn="84901234567")
    BillingRecord.objects.create(
        snapshot=snapshot, msisdn="84901234567", cycle=date(2022, 9, 1), revenue_total=1
    )

    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT table_name, data_type FROM information_schema.columns "
            "WHERE column_name = 'msisdn' AND table_name IN "
            "('eligibility_subscriber', 'eligibility_billingrecord')"
        )
        assert dict(cursor.fetchall()) == {
            "eligibility_subscriber": "bigint",
            "eligibility_billingrecord": "bigint",
        }
    found = Subscriber.objects.get(msisdn="84901234567")
    assert found.msisdn == "84901234567"
    assert list(BillingRecord.objects.values_list("msisdn", flat=True)) == [
        "84901234567"
    ]
    assert str(found) == "84901234567 Nguyễn Văn An"
    # A lookup by something that is not a number finds nothing instead of failing.
    assert not Subscriber.objects.filter(msisdn="090-abc").exists()


def test_a_number_not_normalised_is_never_written():
    snapshot = SnapshotFactory()
    # As a number, 0901234567 would lose its zero and read back as another number.
    with (
        pytest.raises(ValueError, match="'0901234567' is not a normalised MSISDN"),
        transaction.atomic(),
    ):
        SubscriberFactory(snapshot=snapshot, msisdn="0901234567")
    with pytest.raises(ValueError, match="BillingRecord.msisdn"), transaction.atomic():
        BillingRecord.objects.create(
            snapshot=snapshot, msisdn="84-abc", cycle=date(2022, 9, 1), revenue_total=1
        )
    assert not Subscriber.objects.exists() and not BillingRecord.objects.exists()


def test_staff_search_subscribers_by_number_or_name_and_see_plain_numbers(client):
    snapshot = SnapshotFactory()
    SubscriberFactory(
        snapshot=snapshot, msisdn="84901234567", full_name="Nguyễn Văn An"
    )
    SubscriberFactory(
        snapshot=snapshot, msisdn="84931234568", full_name="Trần Thị Bình"
    )
    client.force_login(user_in_role("cskh", roles.CARE_STAFF))

    by_number = client.get(
        "/admin/eligibility/subscriber/",
        {"q": "0901 234 567"},
        HTTP_ACCEPT_LANGUAGE="vi",
    )
    by_name = client.get(
        "/admin/eligibility/subscriber/", {"q": "Bình"}, HTTP_ACCEPT_LANGUAGE="vi"
    )

    assert by_number.status_code == by_name.status_code == 200
    assert "84901234567" in by_number.text and "84931234568" not in by_number.text
    assert "84931234568" in by_name.text and "84901234567" not in by_name.text
    # Vietnamese number formatting groups thousands with dots; a phone number
    # must never be shown that way.
    assert "84.901.234.567" not in by_number.text


def test_staff_see_the_number_as_text_on_a_subscribers_page(client):
    snapshot = SnapshotFactory()
    row = SubscriberFactory(snapshot=snapshot, msisdn="84901234567")
    client.force_login(user_in_role("cskh", roles.CARE_STAFF))

    page = client.get(f"/admin/eligibility/subscriber/{row.pk}/change/")

    assert page.status_code == 200
    assert 'value="84901234567"' in page.text
    assert "84.901.234.567" not in page.text


def test_staff_find_billing_rows_by_the_number_as_customers_say_it(client):
    snapshot = SnapshotFactory()
    for msisdn, revenue in (("84901234567", 123456), ("84931234568", 654321)):
        BillingRecord.objects.create(
            snapshot=snapshot,
            msisdn=msisdn,
            cycle=date(2022, 9, 1),
            revenue_total=revenue,
        )
    client.force_login(user_in_role("cskh", roles.CARE_STAFF))

    page = client.get(
        "/admin/eligibility/billingrecord/",
        {"q": "+84 90 123 4567"},
        HTTP_ACCEPT_LANGUAGE="vi",
    )

    assert page.status_code == 200
    assert "84901234567" in page.text and "84931234568" not in page.text
    assert "123.456" in page.text  # the amount, grouped as Vietnamese write it

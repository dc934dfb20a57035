"""Races on PostgreSQL with real threads, each on its own connection."""

import threading

import pytest
from django.db import connection

from gifts import services
from gifts.models import Choice, GiftStock, Invitation
from gifts.services import ChoiceDetails, LoginLocked, LoginRefused, OutOfStock
from tests.gifts.factories import (
    PASSWORD,
    OpenCampaignFactory,
    gift_with_stock,
    invitation_in,
)

pytestmark = pytest.mark.django_db(transaction=True)


def _race(workers: list) -> list:
    """Run each callable in its own thread, released together; their results."""
    barrier = threading.Barrier(len(workers))
    results = [None] * len(workers)

    def run(index, work):
        try:
            barrier.wait()
            results[index] = work()
        except Exception as exc:  # noqa: BLE001 - the outcome is what is compared
            results[index] = exc
        finally:
            connection.close()

    threads = [
        threading.Thread(target=run, args=(index, work))
        for index, work in enumerate(workers)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return results


def test_customers_racing_for_the_last_units_take_exactly_the_stock():
    campaign = OpenCampaignFactory(until_gifts_run_out=False)
    gift = gift_with_stock(campaign, units=3)
    invitations = [invitation_in(campaign) for _ in range(12)]
    details = ChoiceDetails(address="12 Lê Lợi, P. Bến Nghé, Quận 1")

    def choose(invitation):
        return lambda: services.choice_make(
            invitation=invitation, gift_id=gift.pk, revision=0, details=details
        )

    results = _race([choose(invitation) for invitation in invitations])

    won = [result for result in results if isinstance(result, Choice)]
    gone = [result for result in results if isinstance(result, OutOfStock)]
    assert (len(won), len(gone)) == (3, 9), results
    # The portal speaks Vietnamese by default: "… đã hết" is "… is all gone".
    assert all("đã hết" in str(result) for result in gone)
    assert GiftStock.objects.get(gift=gift).remaining == 0
    assert Choice.objects.filter(gift=gift).count() == 3
    assert Invitation.objects.filter(status=Invitation.Status.CHOSEN).count() == 3


def test_one_customer_in_two_tabs_gets_one_choice_and_one_unit():
    campaign = OpenCampaignFactory()
    first = gift_with_stock(campaign, units=5)
    second = gift_with_stock(campaign, units=5)
    invitation = invitation_in(campaign)
    details = ChoiceDetails(address="12 Lê Lợi, P. Bến Nghé, Quận 1")

    def choose(gift):
        return lambda: services.choice_make(
            invitation=invitation, gift_id=gift.pk, revision=0, details=details
        )

    results = _race([choose(first), choose(second)] * 3)

    assert sum(isinstance(result, Choice) for result in results) == 1, results
    assert Choice.objects.filter(invitation=invitation).count() == 1
    left = GiftStock.objects.filter(gift__in=[first, second]).values_list(
        "remaining", flat=True
    )
    assert sorted(left) == [4, 5]


def test_a_burst_of_parallel_guesses_gets_only_five_tries():
    invitation = invitation_in(OpenCampaignFactory())

    def guess(password):
        return lambda: services.invitation_login(
            msisdn=invitation.msisdn, password=password
        )

    results = _race([guess(f"WRONG{index:02d}") for index in range(20)])

    refused = [result for result in results if isinstance(result, LoginRefused)]
    locked = [result for result in results if isinstance(result, LoginLocked)]
    # Exactly five passwords were compared; the other fifteen met the lock.
    assert (len(refused), len(locked)) == (5, 15), results
    invitation.refresh_from_db()
    assert invitation.failed_attempts == 5
    with pytest.raises(LoginLocked):
        services.invitation_login(msisdn=invitation.msisdn, password=PASSWORD)

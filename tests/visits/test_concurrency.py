"""Races on PostgreSQL with real threads, each on its own connection."""

import threading

import pytest
from django.db import connection

from campaigns.models import FulfilmentChannel
from eligibility.models import DomainError
from tests.gifts.factories import SelectionMemberFactory, SelectionRunFactory
from tests.visits.factories import StoreFactory, TripFactory, clerk_at
from visits import selectors, services
from visits.models import TripInvitation, Visit, VisitEvent

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


def test_two_staff_filling_the_same_freed_seat_cannot_both_succeed():
    run = SelectionRunFactory()
    tour = "Đoàn 1 (Hà Nội)"
    fields = dict(run=run, company=1, list_name=tour, channel=FulfilmentChannel.TRIP)
    SelectionMemberFactory(rank=1, cell="1, individual", selected=True, **fields)
    for rank in (2, 3, 4):
        SelectionMemberFactory(
            rank=rank, cell="1, individual", selected=False, **fields
        )
    trip = TripFactory(campaign=run.campaign, list_name=tour)
    services.trip_invitations_open(trip=trip)
    freed = TripInvitation.objects.get(trip=trip)
    services.trip_decline(invitation=freed, actor=None, reason="Không đi được")

    results = _race(
        [
            lambda: services.trip_seat_offer_next(freed=freed, actor=None)
            for _ in range(4)
        ]
    )

    won = [r for r in results if isinstance(r, TripInvitation)]
    refused = [r for r in results if isinstance(r, DomainError)]
    assert (len(won), len(refused)) == (1, 3), results
    assert all("đã được chuyển cho" in str(r) for r in refused)
    assert TripInvitation.objects.filter(replaces=freed).count() == 1
    assert TripInvitation.objects.filter(trip=trip).count() == 2
    assert won[0].member.rank == 2
    assert VisitEvent.objects.filter(kind="trip_offered").count() == 2


def test_two_clerks_handing_over_the_same_gift_at_once_record_one_handover():
    run = SelectionRunFactory()
    member = SelectionMemberFactory(run=run, channel=FulfilmentChannel.STORE_PICKUP)
    store = StoreFactory()
    clerks = [clerk_at(store, f"gdv{i}") for i in range(4)]

    def hand_over(clerk):
        return lambda: services.visit_record(
            actor=clerk,
            scope=selectors.scope_for(clerk, counter=True),
            member=member,
            kind=Visit.Kind.STORE,
            province=member.province,
            district=member.district,
            store=store,
            gift_handed_over=True,
        )

    results = _race([hand_over(clerk) for clerk in clerks])

    assert sum(isinstance(r, Visit) for r in results) == 1, results
    assert sum(isinstance(r, DomainError) for r in results) == 3
    assert Visit.objects.filter(member=member).count() == 1

"""Programme 004's invitations: calls, letters, confirmations, passports, next in line."""

from datetime import date, timedelta

import pytest
from django.utils import timezone

from campaigns.models import FulfilmentChannel
from eligibility.models import DomainError
from tests.gifts.factories import SelectionMemberFactory, SelectionRunFactory
from tests.visits.factories import TripFactory
from visits import services
from visits.models import Trip, TripInvitation, VisitEvent

pytestmark = pytest.mark.django_db

TOUR = "Đoàn 1 (Hà Nội)"


def member(run, *, rank, cell, company=1, selected=False, list_name=TOUR):
    return SelectionMemberFactory(
        run=run,
        rank=rank,
        cell=cell,
        company=company,
        selected=selected,
        list_name=list_name,
        channel=FulfilmentChannel.TRIP,
    )


@pytest.fixture
def trip_run(db):
    run = SelectionRunFactory()
    # Company 1: two individual seats, one enterprise seat; people below the cut
    # in both groups, in another company, and on the other tour.
    members = {
        "ind1": member(run, rank=1, cell="1, individual", selected=True),
        "ind2": member(run, rank=2, cell="1, individual", selected=True),
        "ent1": member(run, rank=3, cell="1, enterprise", selected=True),
        "ent_next": member(run, rank=4, cell="1, enterprise"),
        "ind_next": member(run, rank=6, cell="1, individual"),
        "ind_after": member(run, rank=9, cell="1, individual"),
        "other_company": member(run, rank=5, cell="3, individual", company=3),
        "other_tour": member(
            run, rank=7, cell="2, individual", company=2, list_name="Đoàn 2"
        ),
    }
    trip = TripFactory(campaign=run.campaign, list_name=TOUR)
    return trip, members


def seat_of(trip, m) -> TripInvitation:
    return TripInvitation.objects.get(trip=trip, member=m)


def decline(seat, actor=None):
    return services.trip_decline(invitation=seat, actor=actor, reason="Bận công tác")


def test_opening_the_list_invites_each_selected_member_of_the_tour_once(trip_run):
    trip, m = trip_run
    assert services.trip_invitations_open(trip=trip) == 3
    assert services.trip_invitations_open(trip=trip) == 0
    seats = TripInvitation.objects.filter(trip=trip)
    assert {s.member_id for s in seats} == {m["ind1"].pk, m["ind2"].pk, m["ent1"].pk}
    assert all(s.status == "to_call" for s in seats)
    assert VisitEvent.objects.filter(kind="trip_offered").count() == 3


def test_a_freed_seat_goes_to_the_same_group_first_then_the_companys_other_group(
    trip_run,
):
    trip, m = trip_run
    services.trip_invitations_open(trip=trip)

    decline(seat_of(trip, m["ind1"]))
    first = services.trip_seat_offer_next(freed=seat_of(trip, m["ind1"]), actor=None)
    # ind_next (rank 6) beats ent_next (rank 4): the seat's own group comes first.
    assert first.member == m["ind_next"] and first.cell == "1, individual"

    decline(seat_of(trip, m["ind2"]))
    second = services.trip_seat_offer_next(freed=seat_of(trip, m["ind2"]), actor=None)
    assert second.member == m["ind_after"]

    decline(first)
    third = services.trip_seat_offer_next(freed=first, actor=None)
    # The individual group is used up: the company fills from its enterprise group,
    # never from company 3 or the other tour.
    assert third.member == m["ent_next"]
    assert third.cell == "1, individual" and third.replaces == first

    decline(third)
    with pytest.raises(DomainError, match="Nobody is left in line for company 1"):
        services.trip_seat_offer_next(freed=third, actor=None)


def test_a_seat_still_held_cannot_be_offered_and_a_freed_one_only_once(trip_run):
    trip, m = trip_run
    services.trip_invitations_open(trip=trip)
    seat = seat_of(trip, m["ind1"])
    with pytest.raises(DomainError, match="not free"):
        services.trip_seat_offer_next(freed=seat, actor=None)
    decline(seat)
    services.trip_seat_offer_next(freed=seat, actor=None)
    with pytest.raises(DomainError, match="already offered"):
        services.trip_seat_offer_next(freed=seat, actor=None)


def _to_letter(trip, m, sent_on=None):
    services.trip_invitations_open(trip=trip)
    seat = seat_of(trip, m["ind1"])
    services.trip_call_record(invitation=seat, actor=None, answered=True, agreed=True)
    sent_on = sent_on or timezone.localdate() - timedelta(days=2)
    return services.trip_letter_send(invitation=seat, actor=None, sent_on=sent_on)


def test_confirmation_with_a_passport_valid_through_june_2020_is_accepted(trip_run):
    trip, m = trip_run
    seat = _to_letter(trip, m)
    services.trip_confirm(
        invitation=seat,
        actor=None,
        received_on=timezone.localdate(),
        passport_number="c1234567",
        passport_expires_on=date(2020, 6, 30),
    )
    seat.refresh_from_db()
    assert seat.status == "confirmed" and seat.passport_number == "C1234567"
    moves = list(
        VisitEvent.objects.filter(trip_invitation=seat, kind="trip_status").values_list(
            "data__to", flat=True
        )
    )
    assert moves == ["agreed", "letter_sent", "confirmed"]


def test_passport_expiring_before_the_limit_is_refused_with_both_dates(trip_run):
    trip, m = trip_run
    seat = _to_letter(trip, m)
    with pytest.raises(DomainError, match="29/06/2020.*30/06/2020"):
        services.trip_confirm(
            invitation=seat,
            actor=None,
            received_on=timezone.localdate(),
            passport_number="C1234567",
            passport_expires_on=date(2020, 6, 29),
        )
    with pytest.raises(DomainError, match="passport number"):
        services.trip_confirm(
            invitation=seat,
            actor=None,
            received_on=timezone.localdate(),
            passport_number=" ",
            passport_expires_on=date(2021, 1, 1),
        )
    seat.refresh_from_db()
    assert seat.status == "letter_sent" and seat.passport_number == ""


def test_without_a_set_limit_the_passport_must_last_six_months_after_return():
    trip = Trip(departs_on=date(2019, 8, 25), returns_on=date(2019, 8, 31))
    # 31/08 + 6 months has no 31st: the month's last day, in a leap year.
    assert trip.passport_required_through() == date(2020, 2, 29)


def test_confirmation_after_the_deadline_is_refused_and_the_sweep_expires_it(
    trip_run,
):
    trip, m = trip_run
    sent = timezone.localdate() - timedelta(days=10)
    seat = _to_letter(trip, m, sent_on=sent)
    assert seat.confirm_by == sent + timedelta(days=7)
    with pytest.raises(DomainError, match="after the deadline"):
        services.trip_confirm(
            invitation=seat,
            actor=None,
            received_on=timezone.localdate(),
            passport_number="C1",
            passport_expires_on=date(2021, 1, 1),
        )

    assert services.trip_invitations_expire() == 1
    assert services.trip_invitations_expire() == 0
    seat.refresh_from_db()
    assert seat.status == "expired"
    offered = services.trip_seat_offer_next(freed=seat, actor=None)
    assert offered.member == m["ind_next"]


def test_steps_out_of_order_are_refused(trip_run):
    trip, m = trip_run
    services.trip_invitations_open(trip=trip)
    seat = seat_of(trip, m["ind1"])
    with pytest.raises(DomainError, match="cannot become"):
        services.trip_letter_send(invitation=seat, actor=None, sent_on=date.today())
    with pytest.raises(DomainError, match="cannot become"):
        services.trip_confirm(
            invitation=seat,
            actor=None,
            received_on=date.today(),
            passport_number="C1",
            passport_expires_on=date(2021, 1, 1),
        )
    decline(seat)
    with pytest.raises(DomainError, match="cannot become"):
        services.trip_call_record(
            invitation=seat, actor=None, answered=True, agreed=True
        )


def test_unanswered_call_is_noted_without_changing_the_status(trip_run):
    trip, m = trip_run
    services.trip_invitations_open(trip=trip)
    seat = services.trip_call_record(
        invitation=seat_of(trip, m["ind1"]),
        actor=None,
        answered=False,
        reason="Tắt máy",
    )
    assert seat.status == "to_call"
    assert VisitEvent.objects.filter(kind="trip_call", trip_invitation=seat).exists()


def test_expiry_command_counts_without_commit_and_expires_with_it(trip_run):
    from io import StringIO

    from django.core.management import call_command

    trip, m = trip_run
    seat = _to_letter(trip, m, sent_on=timezone.localdate() - timedelta(days=30))
    out = StringIO()
    call_command("trip_invitations_expire", stdout=out)
    assert "1 invitations are overdue" in out.getvalue()
    seat.refresh_from_db()
    assert seat.status == "letter_sent"
    call_command("trip_invitations_expire", "--commit", stdout=out)
    seat.refresh_from_db()
    assert seat.status == "expired"


def test_summary_counts_held_and_confirmed_seats_per_company_and_group(trip_run):
    from visits.selectors import trip_summary

    trip, m = trip_run
    seat = _to_letter(trip, m)
    services.trip_confirm(
        invitation=seat,
        actor=None,
        received_on=timezone.localdate(),
        passport_number="C1",
        passport_expires_on=date(2021, 1, 1),
    )
    decline(seat_of(trip, m["ent1"]))
    assert trip_summary(trip) == [
        {"company": 1, "cell": "1, enterprise", "held": 0, "confirmed": 0},
        {"company": 1, "cell": "1, individual", "held": 2, "confirmed": 1},
    ]


def test_trip_dates_are_checked_in_the_admin():
    from django.core.exceptions import ValidationError

    trip = Trip(departs_on=date(2019, 11, 16), returns_on=date(2019, 11, 10))
    with pytest.raises(ValidationError, match="cannot return before"):
        trip.clean()
    trip = Trip(
        departs_on=date(2019, 11, 16),
        returns_on=date(2019, 11, 22),
        passport_valid_through=date(2019, 11, 1),
    )
    with pytest.raises(ValidationError, match="valid at least until the return"):
        trip.clean()

"""Writes of the visits app: visits and hand-overs, survey answers, trip invitations.

Each function is one atomic change that writes its `VisitEvent` in the same
transaction; views, tasks and the demo call these and never save models themselves.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime, timedelta

from django.db import IntegrityError, connection, transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from campaigns.models import SelectionMember, SelectionRun
from eligibility.models import DomainError
from gifts.models import Choice, Gift, Store
from visits.models import (
    Survey,
    SurveyAnswer,
    SurveyQuestion,
    Trip,
    TripInvitation,
    Visit,
    VisitEvent,
)
from visits.selectors import Scope, survey_for, trip_next_candidates


def _event(*, campaign_id: int, kind: str, actor=None, msisdn="", **refs) -> None:
    data = refs.pop("data", {})
    VisitEvent.objects.create(
        campaign_id=campaign_id,
        kind=kind,
        actor=actor,
        msisdn=msisdn,
        data=data,
        **refs,
    )


# --- surveys ------------------------------------------------------------------


@dataclass
class SurveyProblems(Exception):
    """Answers the survey refuses: question id -> message. Nothing was written."""

    problems: dict[int, str] = field(default_factory=dict)

    def __str__(self):
        return "; ".join(self.problems.values())


def survey_answers_check(
    *, survey: Survey | None, answers: dict[int, list[str] | str]
) -> list[SurveyAnswer]:
    """Unsaved answers for the survey's questions, or SurveyProblems naming each error.

    `answers` maps a question id to the choices ticked (a list) or the text written.
    Required questions must be answered; a choice must be one of the question's.
    """
    if survey is None:
        return []
    rows, problems = [], {}
    for question in survey.questions.all():
        given = answers.get(question.pk)
        if question.kind == SurveyQuestion.Kind.TEXT:
            text = (given if isinstance(given, str) else "").strip()
            if not text:
                if question.required:
                    problems[question.pk] = _("“%(q)s” needs an answer.") % {
                        "q": question.text
                    }
                continue
            rows.append(SurveyAnswer(question=question, text=text[:2000]))
            continue
        picked = [given] if isinstance(given, str) else list(given or [])
        picked = [value for value in picked if value]
        allowed = question.choice_list()
        unknown = [value for value in picked if value not in allowed]
        if unknown:
            problems[question.pk] = _("“%(value)s” is not a choice of “%(q)s”.") % {
                "value": unknown[0],
                "q": question.text,
            }
        elif not picked and question.required:
            problems[question.pk] = _("“%(q)s” needs an answer.") % {"q": question.text}
        elif question.kind == SurveyQuestion.Kind.ONE and len(picked) > 1:
            problems[question.pk] = _("“%(q)s” takes one choice only.") % {
                "q": question.text
            }
        elif picked:
            rows.append(SurveyAnswer(question=question, choices=picked))
    if problems:
        raise SurveyProblems(problems)
    return rows


# --- visits and hand-overs ----------------------------------------------------


def visit_record(
    *,
    actor,
    scope: Scope,
    member: SelectionMember,
    kind: str,
    province: str,
    district: str,
    choice: Choice | None = None,
    gift: Gift | None = None,
    store: Store | None = None,
    outcome: str = Visit.Outcome.MET,
    record_checked: bool = False,
    record_corrected: bool = False,
    record_note: str = "",
    packages_advised: str = "",
    gift_handed_over: bool = False,
    note: str = "",
    answers: dict[int, list[str] | str] | None = None,
    now: datetime | None = None,
) -> Visit:
    """Record a visit or a store pickup, with its survey answers, all or nothing.

    Refused with a DomainError when the member is outside the actor's scope, the gift
    was already handed over (by anyone, anywhere), a gift is handed over to someone
    not met, or a store pickup names no store; SurveyProblems when answers are wrong.
    A hand-over of a chosen gift marks the order delivered.
    """
    now = now or timezone.now()
    if not scope.covers(province, district):
        raise DomainError(_("This customer is not in your area."))
    if kind == Visit.Kind.STORE and store is None:
        raise DomainError(
            _("Your login is not attached to a store; ask care staff to post you.")
        )
    if gift_handed_over and outcome != Visit.Outcome.MET:
        raise DomainError(_("A gift can only be handed over to a customer you met."))
    if record_corrected and not record_checked:
        record_checked = True  # correcting a record means it was looked at
    # Only a customer met in person answers the survey.
    rows = []
    if outcome == Visit.Outcome.MET:
        rows = survey_answers_check(
            survey=survey_for(member.run.campaign_id), answers=answers or {}
        )
    try:
        with transaction.atomic():
            # The member row is the lock every hand-over of this member takes, so a
            # second clerk's click waits here and then sees the first hand-over.
            SelectionMember.objects.select_for_update().get(pk=member.pk)
            if gift_handed_over:
                earlier = (
                    Visit.objects.handed_over()
                    .filter(member=member)
                    .select_related("store", "staff")
                    .first()
                )
                if earlier is not None:
                    raise DomainError(_already_handed(earlier))
            visit = Visit.objects.create(
                campaign_id=member.run.campaign_id,
                member=member,
                choice=choice,
                gift=gift if gift_handed_over else None,
                kind=kind,
                store=store,
                province=province,
                district=district,
                outcome=outcome,
                record_checked=record_checked,
                record_corrected=record_corrected,
                record_note=record_note.strip(),
                packages_advised=packages_advised.strip(),
                gift_handed_over=gift_handed_over,
                note=note.strip(),
                staff=actor,
                visited_at=now,
            )
            for row in rows:
                row.visit = visit
            SurveyAnswer.objects.bulk_create(rows)
            if gift_handed_over and choice is not None:
                Choice.objects.filter(pk=choice.pk).update(
                    fulfilment=Choice.Fulfilment.DELIVERED
                )
            _event(
                campaign_id=visit.campaign_id,
                kind=(
                    VisitEvent.Kind.HANDOVER
                    if gift_handed_over
                    else VisitEvent.Kind.VISIT
                ),
                actor=actor,
                msisdn=member.msisdn,
                visit=visit,
                data={
                    "where": kind,
                    "store": store.code if store else "",
                    "gift": gift.code if gift and gift_handed_over else "",
                    "outcome": outcome,
                    "record_checked": record_checked,
                    "record_corrected": record_corrected,
                    "packages": visit.packages_advised,
                    "answers": len(rows),
                },
            )
    except IntegrityError as exc:
        # The partial unique index caught a hand-over the check above could not see.
        raise DomainError(
            _("The gift was already handed over to this customer.")
        ) from exc
    return visit


def _already_handed(earlier: Visit) -> str:
    where = earlier.store.name if earlier.store else _("at home")
    local = timezone.localtime(earlier.visited_at)
    return _(
        "The gift was already handed over on %(when)s (%(where)s, by %(who)s). "
        "It cannot be handed over twice."
    ) % {
        "when": local.strftime("%d/%m/%Y %H:%M"),
        "where": where,
        "who": earlier.staff.get_full_name() or earlier.staff.get_username(),
    }


# --- trip invitations -----------------------------------------------------------


def trip_invitations_open(*, trip: Trip, actor=None) -> int:
    """Create a seat for each selected member of the trip's list; returns how many.

    Set-based: one INSERT ... SELECT from the approved run, idempotent (a member
    already invited is skipped), and the audit events in a second INSERT ... SELECT.
    """
    run = SelectionRun.objects.filter(
        campaign=trip.campaign_id, status=SelectionRun.Status.APPROVED
    ).first()
    if run is None:
        raise DomainError(
            _("The campaign has no approved list yet; approve a selection run first.")
        )
    seats = TripInvitation._meta.db_table
    members = SelectionMember._meta.db_table
    events = VisitEvent._meta.db_table
    # Adapted by the backend, so both INSERTs write (and match) the same value.
    now = connection.ops.adapt_datetimefield_value(timezone.now())
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(
            f"""
            INSERT INTO {seats} (trip_id, member_id, cell, company, status,
                                 passport_number, decline_reason, created_at,
                                 updated_at)
            SELECT %s, m.id, m.cell, m.company, %s, '', '', %s, %s
            FROM {members} m
            WHERE m.run_id = %s AND m.selected AND m.list_name = %s
              AND NOT EXISTS (SELECT 1 FROM {seats} s
                              WHERE s.trip_id = %s AND s.member_id = m.id)
            ORDER BY m.rank
            """,
            [
                trip.pk,
                TripInvitation.Status.TO_CALL,
                now,
                now,
                run.pk,
                trip.list_name,
                trip.pk,
            ],
        )
        created = cursor.rowcount
        cursor.execute(
            f"""
            INSERT INTO {events} (campaign_id, kind, trip_invitation_id, msisdn,
                                  actor_id, data, created_at)
            SELECT %s, %s, s.id, m.msisdn, %s, %s, %s
            FROM {seats} s JOIN {members} m ON m.id = s.member_id
            WHERE s.trip_id = %s AND s.created_at = %s
            """,
            [
                trip.campaign_id,
                VisitEvent.Kind.TRIP_OFFERED,
                actor.pk if actor else None,
                '{"first_list": true}',
                now,
                trip.pk,
                now,
            ],
        )
    return created


def _locked(invitation: TripInvitation) -> TripInvitation:
    return (
        TripInvitation.objects.select_for_update(of=("self",))
        .select_related("trip", "member")
        .get(pk=invitation.pk)
    )


def _move(
    *, seat: TripInvitation, to_status: str, actor, data: dict | None = None
) -> TripInvitation:
    before = seat.status
    seat.move_to(to_status)
    seat.updated_at = timezone.now()
    seat.save()
    _event(
        campaign_id=seat.trip.campaign_id,
        kind=VisitEvent.Kind.TRIP_STATUS,
        actor=actor,
        msisdn=seat.member.msisdn,
        trip_invitation=seat,
        data={"from": before, "to": to_status, **(data or {})},
    )
    return seat


def trip_call_record(
    *,
    invitation: TripInvitation,
    actor,
    answered: bool,
    agreed: bool = False,
    reason: str = "",
    now: datetime | None = None,
) -> TripInvitation:
    """The invitation call: unanswered (noted, no change), agreed, or declined."""
    now = now or timezone.now()
    with transaction.atomic():
        seat = _locked(invitation)
        if not answered:
            if seat.status != TripInvitation.Status.TO_CALL:
                raise DomainError(_("This customer was already reached."))
            _event(
                campaign_id=seat.trip.campaign_id,
                kind=VisitEvent.Kind.TRIP_CALL,
                actor=actor,
                msisdn=seat.member.msisdn,
                trip_invitation=seat,
                data={"note": reason.strip()},
            )
            return seat
        seat.called_at = now
        if agreed:
            return _move(seat=seat, to_status=TripInvitation.Status.AGREED, actor=actor)
        seat.decline_reason = reason.strip()
        return _move(
            seat=seat,
            to_status=TripInvitation.Status.DECLINED,
            actor=actor,
            data={"reason": seat.decline_reason, "on": "call"},
        )


def trip_letter_send(
    *, invitation: TripInvitation, actor, sent_on: date
) -> TripInvitation:
    """The invitation letter went out; the confirmation is due `reply_days` later."""
    with transaction.atomic():
        seat = _locked(invitation)
        seat.letter_sent_on = sent_on
        seat.confirm_by = sent_on + timedelta(days=seat.trip.reply_days)
        return _move(
            seat=seat,
            to_status=TripInvitation.Status.LETTER_SENT,
            actor=actor,
            data={"confirm_by": seat.confirm_by.isoformat()},
        )


def trip_confirm(
    *,
    invitation: TripInvitation,
    actor,
    received_on: date,
    passport_number: str,
    passport_expires_on: date | None,
) -> TripInvitation:
    """The written confirmation arrived: on time and with a passport valid long enough.

    A confirmation after the deadline is refused: the programme takes the customer as
    not interested, and the seat is expired instead (see trip_invitations_expire).
    """
    with transaction.atomic():
        seat = _locked(invitation)
        if seat.status != TripInvitation.Status.LETTER_SENT:
            seat.move_to(TripInvitation.Status.CONFIRMED)  # raises the usual message
        if received_on > timezone.localdate():
            raise DomainError(_("The date received cannot be in the future."))
        if seat.confirm_by and received_on > seat.confirm_by:
            raise DomainError(
                _(
                    "The confirmation arrived on %(received)s, after the deadline "
                    "%(deadline)s; the programme takes the customer as declined."
                )
                % {
                    "received": received_on.strftime("%d/%m/%Y"),
                    "deadline": seat.confirm_by.strftime("%d/%m/%Y"),
                }
            )
        seat.check_passport(number=passport_number, expires_on=passport_expires_on)
        seat.passport_number = passport_number.strip().upper()
        seat.passport_expires_on = passport_expires_on
        seat.confirmed_on = received_on
        return _move(
            seat=seat,
            to_status=TripInvitation.Status.CONFIRMED,
            actor=actor,
            data={
                "received_on": received_on.isoformat(),
                "passport_expires_on": passport_expires_on.isoformat(),
            },
        )


def trip_decline(*, invitation: TripInvitation, actor, reason: str) -> TripInvitation:
    """The customer declined (by phone, letter or later drop-out); the seat is freed."""
    if not reason.strip():
        raise DomainError(_("Write the reason the customer gave."))
    with transaction.atomic():
        seat = _locked(invitation)
        seat.decline_reason = reason.strip()
        return _move(
            seat=seat,
            to_status=TripInvitation.Status.DECLINED,
            actor=actor,
            data={"reason": seat.decline_reason},
        )


def trip_invitations_expire(*, today: date | None = None) -> int:
    """Seats whose letter went out and whose confirmation is overdue become expired.

    One UPDATE for all of them, and their audit events in one INSERT.
    """
    today = today or timezone.localdate()
    with transaction.atomic():
        due = TripInvitation.objects.filter(
            status=TripInvitation.Status.LETTER_SENT, confirm_by__lt=today
        )
        rows = list(
            due.select_for_update().values_list(
                "pk", "trip__campaign_id", "member__msisdn", "confirm_by"
            )
        )
        if not rows:
            return 0
        TripInvitation.objects.filter(pk__in=[row[0] for row in rows]).update(
            status=TripInvitation.Status.EXPIRED, updated_at=timezone.now()
        )
        VisitEvent.objects.bulk_create(
            VisitEvent(
                campaign_id=campaign_id,
                kind=VisitEvent.Kind.TRIP_STATUS,
                trip_invitation_id=pk,
                msisdn=msisdn,
                data={
                    "from": TripInvitation.Status.LETTER_SENT,
                    "to": TripInvitation.Status.EXPIRED,
                    "confirm_by": confirm_by.isoformat(),
                },
            )
            for pk, campaign_id, msisdn, confirm_by in rows
        )
    return len(rows)


def trip_seat_offer_next(*, freed: TripInvitation, actor) -> TripInvitation:
    """Offer a declined or expired seat to the next member in line.

    Refused when the seat is not free, was already given to someone (two staff on the
    same seat: the second waits for the first's lock, then is told), or nobody is left
    in line for the company.
    """
    try:
        with transaction.atomic():
            seat = _locked(freed)
            if not seat.is_freed:
                raise DomainError(
                    _("This seat is not free: the customer is %(status)s.")
                    % {"status": seat.get_status_display()}
                )
            taken = TripInvitation.objects.filter(replaces=seat).first()
            if taken is not None:
                raise DomainError(
                    _("This seat was already offered to %(msisdn)s.")
                    % {"msisdn": taken.member.msisdn}
                )
            candidate = trip_next_candidates(seat).first()
            if candidate is None:
                raise DomainError(
                    _(
                        "Nobody is left in line for company %(company)s on this "
                        "trip; the seat stays empty."
                    )
                    % {"company": seat.company}
                )
            offered = TripInvitation.objects.create(
                trip=seat.trip,
                member=candidate,
                cell=seat.cell,
                company=seat.company,
                replaces=seat,
            )
            _event(
                campaign_id=seat.trip.campaign_id,
                kind=VisitEvent.Kind.TRIP_OFFERED,
                actor=actor,
                msisdn=candidate.msisdn,
                trip_invitation=offered,
                data={
                    "replaces": seat.member.msisdn,
                    "rank": candidate.rank,
                    "from_cell": candidate.cell,
                    "other_group": candidate.cell != seat.cell,
                },
            )
    except IntegrityError as exc:
        raise DomainError(_("This seat was already offered to someone else.")) from exc
    return offered

"""Staff pages: the store counter, the home-visit lists, the survey report, the trips.

Views are thin: they read the viewer's scope, call a selector that filters by it, and
hand writes to `visits.services`. A row outside the scope is a 404, like a row that
does not exist, so a URL cannot tell one from the other.
"""

from __future__ import annotations

import tempfile

from django.contrib import messages
from django.contrib.auth.decorators import login_required, permission_required
from django.core.exceptions import PermissionDenied
from django.http import FileResponse, Http404
from django.shortcuts import get_object_or_404, redirect, render
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from eligibility.models import DomainError
from visits import selectors, services
from visits.forms import (
    CallForm,
    ConfirmForm,
    DeclineForm,
    HandoverForm,
    HomeVisitForm,
    LetterForm,
    SearchForm,
)
from visits.models import Survey, Trip, TripInvitation, Visit
from visits.templatetags.visits_tags import local_phone

LOGIN_URL = "admin:login"
XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


def _render(request, template: str, context: dict):
    """Render a page with the links the viewer may follow in its navigation."""
    user = request.user
    context.setdefault("nav_counter", selectors.scope_for(user, counter=True).allowed)
    context.setdefault("nav_visits", selectors.scope_for(user).allowed)
    return render(request, template, context)


def _scope(request, *, counter: bool = False) -> selectors.Scope:
    scope = selectors.scope_for(request.user, counter=counter)
    if not scope.allowed:
        raise PermissionDenied(_("Your login has no store or district for this page."))
    return scope


# --- store counter ----------------------------------------------------------------


@login_required(login_url=LOGIN_URL)
def counter_search(request):
    scope = _scope(request, counter=True)
    form = SearchForm(request.GET or None)
    orders, problem = [], ""
    searched = form.is_valid() and form.cleaned_data["q"].strip()
    if searched:
        orders, problem = selectors.counter_orders(
            scope=scope, query=form.cleaned_data["q"]
        )
        if len(orders) == 1 and not problem:
            return redirect("visits:counter_order", member_id=orders[0].member.pk)
    return _render(
        request,
        "visits/counter_search.html",
        {
            "form": form,
            "orders": orders,
            "problem": problem,
            "searched": searched,
            "scope": scope,
            "surveys": selectors.surveys_in(scope=scope),
            "today": selectors.handovers_today(scope=scope),
        },
    )


@login_required(login_url=LOGIN_URL)
def counter_order(request, member_id: int):
    scope = _scope(request, counter=True)
    order = selectors.counter_order(scope=scope, member_id=member_id)
    if order is None:
        raise Http404(_("No such order in your province."))
    member = order.member
    survey = selectors.survey_for(member.run.campaign_id)
    gifts = [] if order.choice else selectors.gifts_for(member)
    form = HandoverForm(
        request.POST if request.method == "POST" else None, survey=survey, gifts=gifts
    )
    error = ""
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        try:
            services.visit_record(
                actor=request.user,
                scope=scope,
                member=member,
                kind=Visit.Kind.STORE,
                province=order.province,
                district=order.district,
                choice=order.choice,
                gift=order.choice.gift if order.choice else form.chosen_gift(),
                store=scope.store or order.store,
                record_checked=data["record_checked"],
                record_corrected=data["record_corrected"],
                record_note=data["record_note"],
                packages_advised=data["packages_advised"],
                gift_handed_over=True,
                note=data["note"],
                answers=form.answers(),
            )
        except services.SurveyProblems as exc:
            for question_id, message in exc.problems.items():
                form.add_error(f"q_{question_id}", message)
            error = _("Some survey answers are missing or wrong; see below.")
        except DomainError as exc:
            error = str(exc)
        else:
            messages.success(
                request,
                _("Gift handed over to %(msisdn)s and recorded.")
                % {"msisdn": local_phone(member.msisdn)},
            )
            return redirect("visits:counter_order", member_id=member.pk)
    return _render(
        request,
        "visits/counter_order.html",
        {
            "order": order,
            "member": member,
            "subscriber": selectors.subscriber_record(member),
            "gift_names": " / ".join(gift.name for gift in gifts),
            "form": form,
            "error": error,
            "scope": scope,
        },
    )


# --- home visits ------------------------------------------------------------------


@login_required(login_url=LOGIN_URL)
def visit_list(request):
    scope = _scope(request)
    districts = selectors.districts_in(scope=scope)
    district = request.GET.get("district") or (districts[0] if districts else "")
    members = selectors.home_visit_members(scope=scope)
    if district:
        members = members.filter(district=district)
    batch = request.GET.get("batch", "")
    if batch.isdigit():
        members = members.filter(batch=int(batch))
    return _render(
        request,
        "visits/visit_list.html",
        {
            "members": members[:500],
            "districts": districts,
            "district": district,
            "batch": batch,
            "scope": scope,
            "surveys": selectors.surveys_in(scope=scope),
        },
    )


@login_required(login_url=LOGIN_URL)
def visit_member(request, member_id: int):
    scope = _scope(request)
    member = selectors.home_visit_member(scope=scope, member_id=member_id)
    if member is None:
        raise Http404(_("No such customer in your district."))
    survey = selectors.survey_for(member.run.campaign_id)
    gifts = selectors.gifts_for(member)
    form = HomeVisitForm(
        request.POST if request.method == "POST" else None, survey=survey, gifts=gifts
    )
    error = ""
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        try:
            services.visit_record(
                actor=request.user,
                scope=scope,
                member=member,
                kind=Visit.Kind.HOME,
                province=member.province,
                district=member.district,
                outcome=data["outcome"],
                record_checked=data["record_checked"],
                record_corrected=data["record_corrected"],
                record_note=data["record_note"],
                packages_advised=data["packages_advised"],
                gift_handed_over=data["gift_handed_over"],
                gift=form.chosen_gift() if data["gift_handed_over"] else None,
                note=data["note"],
                answers=form.answers(),
            )
        except services.SurveyProblems as exc:
            for question_id, message in exc.problems.items():
                form.add_error(f"q_{question_id}", message)
            error = _("Some survey answers are missing or wrong; see below.")
        except DomainError as exc:
            error = str(exc)
        else:
            messages.success(
                request,
                _("Visit to %(msisdn)s recorded.")
                % {"msisdn": local_phone(member.msisdn)},
            )
            return redirect("visits:visit_member", member_id=member.pk)
    return _render(
        request,
        "visits/visit_member.html",
        {
            "member": member,
            "subscriber": selectors.subscriber_record(member),
            "gift_names": " / ".join(gift.name for gift in gifts),
            "visits": member.visits.select_related("staff").order_by("visited_at"),
            "form": form,
            "error": error,
            "scope": scope,
        },
    )


@login_required(login_url=LOGIN_URL)
def survey_report(request, survey_id: int):
    scope = selectors.scope_for(request.user)
    if not scope.allowed:
        scope = _scope(request, counter=True)
    survey = get_object_or_404(Survey.objects.select_related("campaign"), pk=survey_id)
    return _render(
        request,
        "visits/survey_report.html",
        {
            "survey": survey,
            "report": selectors.survey_report(survey=survey, scope=scope),
            "scope": scope,
        },
    )


# --- trip invitations (004) ---------------------------------------------------------

TRIP_PERMISSION = "visits.change_tripinvitation"
STATUS_LABELS = dict(TripInvitation.Status.choices)


@login_required(login_url=LOGIN_URL)
@permission_required(TRIP_PERMISSION, raise_exception=True)
def trip_list(request):
    return _render(request, "visits/trip_list.html", {"trips": selectors.trips()})


@login_required(login_url=LOGIN_URL)
@permission_required(TRIP_PERMISSION, raise_exception=True)
def trip_detail(request, trip_id: int):
    trip = get_object_or_404(Trip.objects.select_related("campaign"), pk=trip_id)
    seats = list(selectors.trip_seats(trip))
    confirmed = sum(1 for seat in seats if seat.status == "confirmed")
    return _render(
        request,
        "visits/trip_detail.html",
        {
            "trip": trip,
            "seats": seats,
            "confirmed": confirmed,
            "summary": selectors.trip_summary(trip),
        },
    )


@require_POST
@login_required(login_url=LOGIN_URL)
@permission_required(TRIP_PERMISSION, raise_exception=True)
def trip_open(request, trip_id: int):
    trip = get_object_or_404(Trip, pk=trip_id)
    try:
        created = services.trip_invitations_open(trip=trip, actor=request.user)
    except DomainError as exc:
        messages.error(request, str(exc))
    else:
        messages.success(
            request, _("%(n)s customers added to the call list.") % {"n": created}
        )
    return redirect("visits:trip_detail", trip_id=trip.pk)


SEAT_ACTIONS = {
    "call": CallForm,
    "letter": LetterForm,
    "confirm": ConfirmForm,
    "decline": DeclineForm,
}


@login_required(login_url=LOGIN_URL)
@permission_required(TRIP_PERMISSION, raise_exception=True)
def trip_seat(request, seat_id: int):
    seat = get_object_or_404(
        TripInvitation.objects.select_related("trip__campaign", "member"), pk=seat_id
    )
    action = request.POST.get("action", "")
    forms_by_action = {
        name: form_class(request.POST if action == name else None, prefix=name)
        for name, form_class in SEAT_ACTIONS.items()
    }
    error = ""
    if request.method == "POST":
        try:
            done = _seat_action(request, seat, action, forms_by_action)
        except DomainError as exc:
            error = str(exc)
        else:
            if done is not None:
                messages.success(request, done[0])
                return redirect("visits:trip_seat", seat_id=done[1].pk)
    seat.refresh_from_db()
    replaced_by = TripInvitation.objects.filter(replaces=seat).first()
    return _render(
        request,
        "visits/trip_seat.html",
        {
            "seat": seat,
            "trip": seat.trip,
            "forms": forms_by_action,
            "error": error,
            "replaced_by": replaced_by,
            "next_in_line": (
                selectors.trip_next_candidates(seat).first()
                if seat.is_freed and replaced_by is None
                else None
            ),
            "events": [
                (event, STATUS_LABELS.get(event.data.get("to"), ""))
                for event in seat.events.select_related("actor").order_by("created_at")
            ],
            "required_through": seat.trip.passport_required_through(),
        },
    )


def _seat_action(request, seat, action, forms_by_action):
    """Run one action; (message, seat to show) on success, None for a form error."""
    if action == "offer":
        offered = services.trip_seat_offer_next(freed=seat, actor=request.user)
        return (
            _("The seat is offered to %(msisdn)s, next in line.")
            % {"msisdn": local_phone(offered.member.msisdn)},
            offered,
        )
    form = forms_by_action.get(action)
    if form is None:
        raise DomainError(_("Unknown action."))
    if not form.is_valid():
        return None
    data = form.cleaned_data
    if action == "call":
        result = data["result"]
        if result == "declined" and not data["reason"].strip():
            raise DomainError(_("Write the reason the customer gave."))
        services.trip_call_record(
            invitation=seat,
            actor=request.user,
            answered=result != "no_answer",
            agreed=result == "agreed",
            reason=data["reason"],
        )
        return _("Call recorded."), seat
    if action == "letter":
        services.trip_letter_send(
            invitation=seat, actor=request.user, sent_on=data["sent_on"]
        )
        return _("Letter recorded."), seat
    if action == "confirm":
        services.trip_confirm(
            invitation=seat,
            actor=request.user,
            received_on=data["received_on"],
            passport_number=data["passport_number"],
            passport_expires_on=data["passport_expires_on"],
        )
        return _("Confirmation recorded."), seat
    services.trip_decline(invitation=seat, actor=request.user, reason=data["reason"])
    return _("Declined; the seat can be offered to the next in line."), seat


@login_required(login_url=LOGIN_URL)
def survey_export(request, survey_id: int):
    scope = selectors.scope_for(request.user)
    if not scope.allowed:
        scope = _scope(request, counter=True)
    survey = get_object_or_404(Survey.objects.select_related("campaign"), pk=survey_id)
    handle = tempfile.TemporaryFile()
    selectors.survey_export_xlsx(survey=survey, scope=scope, stream=handle)
    handle.seek(0)
    return FileResponse(
        handle,
        as_attachment=True,
        filename=f"khao-sat-{survey.campaign.code}.xlsx",
        content_type=XLSX,
    )

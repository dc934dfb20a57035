"""Pages of the home SIM-swap flow: the public form, agents, province and field staff.

Views are thin: each checks its role, reads through a selector scoped to the user
(another person's request is a 404, as if it did not exist), writes through a
service, and turns a DomainError into a message on the page.
"""

from __future__ import annotations

import io
from functools import wraps

from django.contrib import messages
from django.contrib.auth.views import redirect_to_login
from django.core.exceptions import PermissionDenied
from django.http import HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils import timezone
from django.utils.translation import gettext as _
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_POST

from campaigns import roles
from campaigns.models import Campaign, CampaignKind
from eligibility.models import DomainError
from servicerequests import limits, selectors, services
from servicerequests.forms import (
    AllocateForm,
    ConfirmForm,
    DayForm,
    IvrUploadForm,
    PeriodForm,
    VisitForm,
    WebRequestForm,
)
from servicerequests.models import IvrImport, Source, Status


def role_required(role: str, *, scoped: bool = False):
    """Only members of `role`; with `scoped`, only those given a province."""

    def decorate(view):
        @wraps(view)
        @never_cache
        def wrapper(request, *args, **kwargs):
            if not request.user.is_authenticated:
                return redirect_to_login(request.get_full_path())
            if not selectors.in_role(request.user, role):
                raise PermissionDenied
            if scoped:
                request.scope = selectors.scope_of(request.user)
                if request.scope is None:
                    raise PermissionDenied(_("You have no province assigned yet."))
            return view(request, *args, **kwargs)

        return wrapper

    return decorate


# --- Public form --------------------------------------------------------------------


@never_cache
def request_form(request):
    campaign = selectors.campaign_for_requests()
    if campaign is None:
        return render(request, "servicerequests/form_closed.html", status=404)
    if request.method != "POST":
        return render(request, "servicerequests/form.html", {"form": WebRequestForm()})
    if limits.form_throttled(request):
        return render(
            request,
            "servicerequests/form.html",
            {"form": WebRequestForm(), "throttled": True},
            status=429,
        )
    form = WebRequestForm(request.POST)
    if not form.is_valid():
        return render(request, "servicerequests/form.html", {"form": form}, status=400)
    limits.form_submission_record(request)
    services.request_register(
        campaign=campaign,
        msisdn=form.cleaned_data["phone"],
        source=Source.WEB,
        full_name=form.cleaned_data["full_name"],
        address=form.cleaned_data["address"],
        preferred_time=form.preferred_time_text(),
    )
    # The same answer for every number: anyone can type anyone's number here, so the
    # page must not tell who is on the list. The call or the SMS tells the customer.
    return redirect("servicerequests:thanks")


def request_thanks(request):
    return render(request, "servicerequests/thanks.html")


# --- Step 2: agents -----------------------------------------------------------------


@role_required(roles.CALL_AGENT)
def agent_queue(request):
    now = timezone.now()
    return render(
        request,
        "servicerequests/agent_queue.html",
        {
            "due": selectors.agent_due_list(agent=request.user, now=now),
            "unclaimed": selectors.unclaimed_count(),
            "done": selectors.agent_requests(agent=request.user)
            .exclude(status=Status.NEW)
            .order_by("-confirmed_at", "-id")[:20],
        },
    )


@require_POST
@role_required(roles.CALL_AGENT)
def agent_claim(request):
    count = services.requests_claim(agent=request.user, limit=10)
    if count:
        messages.success(
            request, _("%(count)s requests added to your list.") % {"count": count}
        )
    else:
        messages.info(request, _("No request is waiting for a call."))
    return redirect("servicerequests:agent_queue")


@role_required(roles.CALL_AGENT)
def agent_call(request, pk: int):
    item = get_object_or_404(selectors.agent_requests(agent=request.user), pk=pk)
    form = ConfirmForm(request.POST or None)
    error = ""
    if request.method == "POST" and form.is_valid():
        try:
            services.request_confirm(
                request=item,
                actor=request.user,
                outcome=form.cleaned_data["outcome"],
                address=form.cleaned_data["address"],
                district=form.cleaned_data["district"],
                appointment_at=form.cleaned_data["appointment_at"],
                note=form.cleaned_data["note"],
                cancel_reason=form.cleaned_data["cancel_reason"],
            )
        except DomainError as exc:
            error = str(exc)
        else:
            messages.success(
                request,
                _("Call for %(number)s recorded.") % {"number": item.local_number},
            )
            return redirect("servicerequests:agent_queue")
    return render(
        request,
        "servicerequests/agent_call.html",
        {
            "item": item,
            "form": form,
            "error": error,
            "overdue": item.is_overdue(),
            "events": item.events.select_related("actor"),
        },
        status=400 if request.method == "POST" else 200,
    )


# --- Step 3 and 4: province staff ---------------------------------------------------


def _province_allocate_form(request, data=None):
    province = request.scope.province
    return AllocateForm(
        data,
        staff_queryset=selectors.field_staff_of(province=province),
        request_queryset=selectors.province_requests(province=province).filter(
            status=Status.CONFIRMED
        ),
    )


@role_required(roles.PROVINCE_STAFF, scoped=True)
def province_home(request, form=None, status=200):
    province = request.scope.province
    now = timezone.now()
    day_form = DayForm(request.GET or None, initial={"day": timezone.localdate()})
    day = day_form.day_or_today()
    scoped = selectors.province_requests(province=province).with_overdue(now)
    return render(
        request,
        "servicerequests/province.html",
        {
            "province": province,
            "day": day,
            "day_form": day_form,
            "confirmed_today": selectors.province_confirmed_on(
                province=province, day=day
            ).count(),
            "waiting": scoped.filter(status=Status.CONFIRMED).order_by(
                "visit_due_at", "id"
            ),
            "allocated": scoped.filter(status=Status.ALLOCATED)
            .select_related("field_staff")
            .order_by("visit_due_at", "id"),
            "new_count": scoped.filter(status=Status.NEW).count(),
            "overdue_count": scoped.filter(overdue=True).count(),
            "form": form or _province_allocate_form(request),
        },
        status=status,
    )


@role_required(roles.PROVINCE_STAFF, scoped=True)
def province_export(request):
    province = request.scope.province
    day = DayForm(request.GET or None).day_or_today()
    stream = io.BytesIO()
    selectors.confirmed_export_write(
        requests=selectors.province_confirmed_on(province=province, day=day),
        stream=stream,
    )
    response = HttpResponse(
        stream.getvalue(),
        content_type=(
            "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
        ),
    )
    response["Content-Disposition"] = (
        f'attachment; filename="yeu-cau-xac-nhan-{day:%Y%m%d}.xlsx"'
    )
    return response


@require_POST
@role_required(roles.PROVINCE_STAFF, scoped=True)
def province_allocate(request):
    form = _province_allocate_form(request, request.POST)
    if not form.is_valid():
        return province_home(request, form=form, status=400)
    try:
        allocations = services.requests_share(
            province=request.scope.province,
            request_ids=[item.pk for item in form.cleaned_data["requests"]],
            field_staff=form.cleaned_data["field_staff"],
            actor=request.user,
        )
    except DomainError as exc:
        form.add_error(None, str(exc))
        return province_home(request, form=form, status=400)
    messages.success(
        request,
        _("%(count)s requests allocated: %(shares)s.")
        % {
            "count": sum(allocation.count for allocation in allocations),
            "shares": ", ".join(
                f"{allocation.field_staff.username} {allocation.count}"
                for allocation in allocations
            ),
        },
    )
    return redirect("servicerequests:province")


@role_required(roles.PROVINCE_STAFF, scoped=True)
def province_request(request, pk: int):
    item = get_object_or_404(
        selectors.province_requests(province=request.scope.province), pk=pk
    )
    return render(
        request,
        "servicerequests/province_request.html",
        {
            "item": item,
            "overdue": item.is_overdue(),
            "events": item.events.select_related("actor"),
        },
    )


@require_POST
@role_required(roles.PROVINCE_STAFF, scoped=True)
def province_unallocate(request, pk: int):
    item = get_object_or_404(
        selectors.province_requests(province=request.scope.province), pk=pk
    )
    try:
        services.request_unallocate(request=item, actor=request.user)
    except DomainError as exc:
        messages.error(request, str(exc))
    else:
        messages.success(
            request,
            _("%(number)s is back in the list to allocate.")
            % {"number": item.local_number},
        )
    return redirect("servicerequests:province")


@role_required(roles.PROVINCE_STAFF, scoped=True)
def reconciliation(request):
    province = request.scope.province
    today = timezone.localdate()
    form = PeriodForm(
        request.GET or None, initial={"start": today.replace(day=1), "end": today}
    )
    start, end = form.period()
    rows = selectors.reconciliation(province=province, start=start, end=end)
    if request.GET.get("format") == "xlsx":
        stream = io.BytesIO()
        selectors.reconciliation_export_write(rows=rows, stream=stream)
        response = HttpResponse(
            stream.getvalue(),
            content_type=(
                "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
            ),
        )
        response["Content-Disposition"] = (
            f'attachment; filename="doi-soat-{start:%Y%m%d}-{end:%Y%m%d}.xlsx"'
        )
        return response
    totals = {
        key: sum(row[key] for row in rows)
        for key in ("visits", "sim_swaps", "app_installs", "records", "packages")
    }
    return render(
        request,
        "servicerequests/reconciliation.html",
        {
            "province": province,
            "form": form,
            "start": start,
            "end": end,
            "rows": rows,
            "totals": totals,
        },
    )


# --- Field staff --------------------------------------------------------------------


@role_required(roles.FIELD_STAFF)
def field_list(request):
    now = timezone.now()
    visits = selectors.field_allocations(user=request.user).with_overdue(now)
    return render(
        request,
        "servicerequests/field_list.html",
        {
            "todo": visits.filter(status=Status.ALLOCATED).order_by(
                "visit_due_at", "id"
            ),
            "done": visits.filter(status=Status.COMPLETED).order_by("-visited_at")[:20],
        },
    )


@role_required(roles.FIELD_STAFF)
def field_visit(request, pk: int):
    item = get_object_or_404(selectors.field_allocations(user=request.user), pk=pk)
    form = VisitForm(request.POST or None)
    error = ""
    if request.method == "POST" and item.status != Status.ALLOCATED:
        error = _("This visit is already recorded.")
    elif request.method == "POST" and form.is_valid():
        try:
            services.visit_record(request=item, actor=request.user, **form.cleaned_data)
        except DomainError as exc:
            error = str(exc)
        else:
            messages.success(
                request,
                _("Visit to %(number)s recorded.") % {"number": item.local_number},
            )
            return redirect("servicerequests:field_list")
    return render(
        request,
        "servicerequests/field_visit.html",
        {"item": item, "form": form, "error": error, "overdue": item.is_overdue()},
        status=400 if request.method == "POST" else 200,
    )


# --- Care staff: the IVR ------------------------------------------------------------


def _care_staff(view):
    @wraps(view)
    @never_cache
    def wrapper(request, *args, **kwargs):
        if not request.user.is_authenticated:
            return redirect_to_login(request.get_full_path())
        if not request.user.has_perm("servicerequests.add_ivrimport"):
            raise PermissionDenied
        return view(request, *args, **kwargs)

    return wrapper


def _sim_swap_campaigns():
    return Campaign.objects.filter(kind=CampaignKind.SIM_SWAP).order_by("-starts_on")


@_care_staff
def ivr_upload(request):
    form = IvrUploadForm(
        request.POST or None, request.FILES or None, campaigns=_sim_swap_campaigns()
    )
    if request.method == "POST" and form.is_valid():
        record = services.ivr_import_queue(
            campaign=form.cleaned_data["campaign"],
            upload=form.cleaned_data["file"],
            actor=request.user,
        )
        return redirect("servicerequests:ivr_import", pk=record.pk)
    return render(
        request,
        "servicerequests/ivr.html",
        {
            "form": form,
            "campaigns": _sim_swap_campaigns().select_related("ivr_script"),
            "imports": IvrImport.objects.select_related("campaign")[:10],
        },
        status=400 if request.method == "POST" else 200,
    )


@_care_staff
def ivr_import(request, pk: int):
    record = get_object_or_404(IvrImport.objects.select_related("campaign"), pk=pk)
    return render(
        request,
        "servicerequests/ivr_import.html",
        {"result": record},
        status=400 if record.outcome == IvrImport.Outcome.REFUSED else 200,
    )


@_care_staff
def ivr_script(request, campaign_id: int):
    campaign = get_object_or_404(_sim_swap_campaigns(), pk=campaign_id)
    try:
        text = services.ivr_script_text(campaign)
    except DomainError as exc:
        return HttpResponse(str(exc), status=404, content_type="text/plain")
    response = HttpResponse(text, content_type="text/plain; charset=utf-8")
    response["Content-Disposition"] = (
        f'attachment; filename="kich-ban-ivr-{campaign.code}.txt"'
    )
    return response

"""Partner pages (doi-tac/) and the campaign dashboard (bao-cao/): thin views.

Every partner view resolves the logged-in user's partner first and reads only
through selectors filtered by it, so another partner's campaign, order or upload is
a 404, never a page.
"""

from __future__ import annotations

import tempfile
from functools import wraps
from pathlib import Path

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.core.paginator import Paginator
from django.http import FileResponse, Http404, StreamingHttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils import timezone
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from campaigns.models import Campaign
from eligibility.models import DomainError
from fulfilment import selectors, services
from fulfilment.forms import ResultUploadForm
from fulfilment.models import OrderStatus

XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


def partner_required(view):
    """Logged in as a user of an active partner; the partner is passed to the view."""

    @wraps(view)
    @login_required
    def wrapper(request, *args, **kwargs):
        partner = services.partner_for_user(request.user)
        if partner is None or not partner.active:
            raise PermissionDenied(_("This page is for delivery partners."))
        return view(request, partner, *args, **kwargs)

    return wrapper


def dashboard_required(view):
    @wraps(view)
    @login_required
    def wrapper(request, *args, **kwargs):
        if not request.user.has_perm("fulfilment.view_dashboard"):
            raise PermissionDenied(
                _("The dashboard is for care staff and supervisors.")
            )
        return view(request, *args, **kwargs)

    return wrapper


def _campaign_or_404(partner, code):
    campaign = selectors.partner_campaign(partner=partner, code=code)
    if campaign is None:
        raise Http404(_("No such campaign among yours."))
    return campaign


# --- Partner ---------------------------------------------------------------------------


@partner_required
def partner_home(request, partner):
    return render(
        request,
        "fulfilment/partner_home.html",
        {"partner": partner, "rows": selectors.partner_campaigns(partner=partner)},
    )


@partner_required
def partner_orders(request, partner, code):
    campaign = _campaign_or_404(partner, code)
    status = request.GET.get("status", "")
    orders = selectors.partner_orders(partner=partner, campaign=campaign, status=status)
    page = Paginator(orders, 100).get_page(request.GET.get("page"))
    now = timezone.now()
    rows = [{"order": order, "flags": order.sla_flags(now)} for order in page]
    uploads = campaign.result_uploads.filter(partner=partner)[:10]
    return render(
        request,
        "fulfilment/partner_orders.html",
        {
            "partner": partner,
            "campaign": campaign,
            "page": page,
            "rows": rows,
            "status": status,
            "statuses": [("", _("all"))]
            + list(OrderStatus.choices)
            + [("overdue", _("overdue"))],
            "uploads": uploads,
            "form": ResultUploadForm(),
        },
    )


@partner_required
def partner_orders_csv(request, partner, code):
    campaign = _campaign_or_404(partner, code)
    stream = selectors.csv_stream(
        selectors.order_export_header(),
        selectors.order_export_rows(partner=partner, campaign=campaign),
    )
    response = StreamingHttpResponse(stream, content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = (
        f'attachment; filename="{campaign.code}-don-hang.csv"'
    )
    return response


@partner_required
def partner_orders_xlsx(request, partner, code):
    campaign = _campaign_or_404(partner, code)
    handle = selectors.xlsx_file(
        [
            (
                campaign.code,
                selectors.order_export_header(),
                selectors.order_export_rows(partner=partner, campaign=campaign),
            )
        ]
    )
    return FileResponse(
        handle,
        as_attachment=True,
        filename=f"{campaign.code}-don-hang.xlsx",
        content_type=XLSX,
    )


@require_POST
@partner_required
def partner_upload(request, partner, code):
    campaign = _campaign_or_404(partner, code)
    form = ResultUploadForm(request.POST, request.FILES)
    if not form.is_valid():
        for error in form.errors.get("file", []):
            messages.error(request, error)
        return redirect("fulfilment:partner_orders", code=campaign.code)
    uploaded = form.cleaned_data["file"]
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "upload"
        with open(path, "wb") as out:
            for chunk in uploaded.chunks():
                out.write(chunk)
        try:
            upload = services.result_upload_check(
                partner=partner,
                campaign=campaign,
                path=path,
                original_name=uploaded.name,
                actor=request.user,
            )
        except DomainError as exc:
            messages.error(request, str(exc))
            return redirect("fulfilment:partner_orders", code=campaign.code)
    return redirect("fulfilment:partner_upload_review", upload_id=upload.pk)


@partner_required
def partner_upload_review(request, partner, upload_id):
    upload = selectors.partner_upload(partner=partner, upload_id=upload_id)
    if upload is None:
        raise Http404(_("No such upload among yours."))
    return render(
        request,
        "fulfilment/partner_upload.html",
        {
            "partner": partner,
            "upload": upload,
            "campaign": upload.campaign,
            "problems": upload.problems[:200],
        },
    )


@partner_required
def partner_upload_problems(request, partner, upload_id):
    upload = selectors.partner_upload(partner=partner, upload_id=upload_id)
    if upload is None:
        raise Http404(_("No such upload among yours."))
    header, rows = selectors.upload_problem_rows(upload)
    response = StreamingHttpResponse(
        selectors.csv_stream(header, rows), content_type="text/csv; charset=utf-8"
    )
    response["Content-Disposition"] = f'attachment; filename="loi-{upload.pk}.csv"'
    return response


@require_POST
@partner_required
def partner_upload_decide(request, partner, upload_id):
    upload = selectors.partner_upload(partner=partner, upload_id=upload_id)
    if upload is None:
        raise Http404(_("No such upload among yours."))
    try:
        if request.POST.get("decision") == "apply":
            result = services.result_upload_apply(upload=upload, actor=request.user)
            messages.success(
                request,
                _("%(changed)s results recorded, %(unchanged)s already known.")
                % {"changed": result.changed, "unchanged": result.unchanged},
            )
        else:
            services.result_upload_discard(upload=upload, actor=request.user)
            messages.info(request, _("The file was discarded; nothing changed."))
    except DomainError as exc:
        messages.error(request, str(exc))
    return redirect("fulfilment:partner_orders", code=upload.campaign.code)


# --- Dashboard -------------------------------------------------------------------------


@dashboard_required
def dashboard_index(request):
    return render(
        request,
        "fulfilment/dashboard_index.html",
        {"campaigns": selectors.dashboard_campaigns()},
    )


@dashboard_required
def dashboard(request, code):
    campaign = get_object_or_404(Campaign, code=code)
    data = selectors.campaign_dashboard(campaign=campaign)
    breakdowns = [
        (name, title, data.breakdowns[name])
        for name, title in (
            ("company", _("By company")),
            ("province", _("By province")),
            ("tier", _("By tier")),
        )
    ]
    return render(
        request,
        "fulfilment/dashboard.html",
        {"d": data, "campaign": campaign, "breakdowns": breakdowns},
    )


@dashboard_required
def dashboard_xlsx(request, code):
    campaign = get_object_or_404(Campaign, code=code)
    data = selectors.campaign_dashboard(campaign=campaign)
    handle = selectors.xlsx_file(selectors.dashboard_sheets(data))
    return FileResponse(
        handle,
        as_attachment=True,
        filename=f"{campaign.code}-bao-cao.xlsx",
        content_type=XLSX,
    )

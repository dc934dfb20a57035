"""The customer's gift site: log in with the SMS password, choose, confirm.

Views are thin: they read through selectors, write through services, and turn a
DomainError into a message on the page. The customer is identified by the gift
site's own cache-backed session (gifts.sessions), never by a staff login.
"""

from __future__ import annotations

from functools import wraps

from django.conf import settings
from django.http import Http404, HttpResponse
from django.shortcuts import redirect, render
from django.utils import timezone
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_POST

from eligibility.models import DomainError
from gifts import limits, selectors, services, sessions
from gifts.forms import ChoiceForm, LoginForm
from gifts.models import Invitation


def customer_required(view):
    """Run the view for the invitation of a live customer session, else go to login."""

    @wraps(view)
    @never_cache
    def wrapper(request, *args, **kwargs):
        invitation_id = sessions.session_invitation_id(request)
        invitation = (
            selectors.invitation_for_site(invitation_id) if invitation_id else None
        )
        if invitation is None:
            return redirect("gifts:login")
        request.invitation = invitation
        return view(request, *args, **kwargs)

    return wrapper


def _open(invitation: Invitation) -> bool:
    return (
        invitation.is_open(timezone.now())
        and invitation.campaign.status in services.CHOOSING_STATUSES
    )


def _page(request, template: str, context: dict, status: int = 200):
    invitation = getattr(request, "invitation", None)
    if invitation is not None:
        context.setdefault("invitation", invitation)
        context.setdefault("deadline", services.deadline_text(invitation.deadline))
    context.setdefault("hotline", settings.GIFTS_HOTLINE)
    return render(request, template, context, status=status)


@never_cache
def login(request):
    if request.method != "POST":
        if sessions.session_invitation_id(request):
            return redirect("gifts:catalogue")
        return _page(request, "gifts/login.html", {"form": LoginForm()})
    if limits.address_throttled(request):
        return _page(
            request, "gifts/login.html", {"form": LoginForm(), "throttled": True}, 429
        )
    form = LoginForm(request.POST)
    if not form.is_valid():
        return _page(request, "gifts/login.html", {"form": form}, 400)
    try:
        invitation = services.invitation_login(
            msisdn=form.cleaned_data["phone"], password=form.cleaned_data["password"]
        )
    except DomainError as exc:
        limits.login_failure_record(request)
        return _page(
            request, "gifts/login.html", {"form": form, "error": str(exc)}, 401
        )
    response = redirect("gifts:catalogue")
    sessions.session_start(response, invitation_id=invitation.pk)
    return response


@require_POST
def logout(request):
    response = redirect("gifts:login")
    sessions.session_end(request, response)
    return response


@customer_required
def catalogue(request):
    invitation = request.invitation
    if not _open(invitation):
        return redirect("gifts:ended")
    return _page(
        request,
        "gifts/catalogue.html",
        {
            "items": selectors.catalogue_for(invitation),
            "choice": selectors.choice_of(invitation),
            "allow_change": invitation.campaign.gift_settings.allow_change,
        },
    )


@customer_required
def choose(request, gift_id: int):
    invitation = request.invitation
    if not _open(invitation):
        return redirect("gifts:ended")
    gift = selectors.catalogue_gift(invitation, gift_id)
    if gift is None:
        raise Http404
    stores = (
        list(services.stores_for(invitation=invitation)) if gift.needs_store else []
    )
    form = ChoiceForm(
        request.POST or None,
        gift=gift,
        stores=stores,
        full_name=invitation.member.full_name,
        initial={"revision": invitation.revision},
    )
    context = {"gift": gift, "form": form}
    if request.method != "POST":
        return _page(request, "gifts/choose.html", context)
    if not form.is_valid():
        return _page(request, "gifts/choose.html", context, 400)
    data = form.cleaned_data
    try:
        services.choice_make(
            invitation=invitation,
            gift_id=gift.pk,
            revision=data["revision"],
            details=services.ChoiceDetails(
                recipient_name=data.get("recipient_name", ""),
                address=data.get("address", ""),
                store_id=data.get("store"),
                extra=form.extra(),
            ),
        )
    except services.OutOfStock as exc:
        context.update(error=str(exc), gone=True)
        return _page(request, "gifts/choose.html", context, 409)
    except DomainError as exc:
        invitation.refresh_from_db()
        if invitation.revision != data["revision"]:
            # Chosen meanwhile in another tab: show what is recorded, not the form.
            return _page(
                request,
                "gifts/confirmation.html",
                {"choice": selectors.choice_of(invitation), "error": str(exc)},
                409,
            )
        context["error"] = str(exc)
        return _page(request, "gifts/choose.html", context, 409)
    return redirect("gifts:confirmation")


@customer_required
def confirmation(request):
    invitation = request.invitation
    choice = selectors.choice_of(invitation)
    if choice is None:
        return redirect("gifts:catalogue" if _open(invitation) else "gifts:ended")
    if not _open(invitation):
        return redirect("gifts:ended")
    return _page(
        request,
        "gifts/confirmation.html",
        {
            "choice": choice,
            "can_change": invitation.campaign.gift_settings.allow_change,
        },
    )


@customer_required
def ended(request):
    invitation = request.invitation
    if _open(invitation):
        return redirect("gifts:catalogue")
    return _page(
        request, "gifts/ended.html", {"choice": selectors.choice_of(invitation)}
    )


def bench_bare(request):
    """The benchmark's baseline: the same server and middleware, one row read."""
    row = (
        Invitation.objects.filter(pk=request.GET.get("id", 1))
        .values_list("msisdn", flat=True)
        .first()
    )
    return HttpResponse(row or "-", content_type="text/plain")

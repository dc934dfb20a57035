"""The console agents call from, and the supervisors' pages. Thin: forms, services."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.http import Http404
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from callcenter import selectors, services
from callcenter.forms import AssignForm, EndCallForm, GiftForm, MoveForm, RequestForm
from callcenter.models import Disposition, RequestKind
from eligibility.models import DomainError


def _agent_required(request):
    if not selectors.is_agent(request.user):
        raise PermissionDenied


def _supervisor_required(request):
    if not selectors.is_supervisor(request.user):
        raise PermissionDenied


def _campaign(request, source=None):
    campaigns = list(selectors.campaigns_for(request.user))
    wanted = (source or request.GET).get("campaign")
    if wanted:
        for campaign in campaigns:
            if str(campaign.pk) == str(wanted):
                return campaign, campaigns
        raise Http404
    return (campaigns[0] if campaigns else None), campaigns


def _queue_url(campaign) -> str:
    url = reverse("callcenter:queue")
    return f"{url}?campaign={campaign.pk}" if campaign else url


def customer_url_prefix() -> str:
    """/tong-dai/kh/: rows link to prefix + id + "/" (one reverse per page)."""
    return reverse("callcenter:customer", args=[0])[: -len("0/")]


@login_required
def queue(request):
    _agent_required(request)
    campaign, campaigns = _campaign(request)
    now = timezone.now()
    context = {
        "campaign": campaign,
        "campaigns": campaigns,
        "now": now,
        "customer_url": customer_url_prefix(),
    }
    if campaign is not None:
        script = campaign.call_script
        context.update(
            script=script,
            in_hours=script.in_hours(now),
            rows=selectors.queue_page(
                campaign_id=campaign.pk, agent_id=request.user.pk, now=now
            ),
            summary=selectors.queue_summary(
                campaign_id=campaign.pk, agent_id=request.user.pk, now=now
            ),
        )
    return render(request, "callcenter/queue.html", context)


@login_required
@require_POST
def claim_next(request):
    _agent_required(request)
    campaign, _campaigns = _campaign(request, request.POST)
    if campaign is None:
        raise Http404
    try:
        task = services.task_claim_next(campaign=campaign, agent=request.user)
    except DomainError as error:
        messages.error(request, str(error))
        return redirect(_queue_url(campaign))
    if task is None:
        messages.info(request, _("Nobody is waiting to be called."))
        return redirect(_queue_url(campaign))
    return redirect("callcenter:customer", pk=task.pk)


def _console_context(request, task, *, end_form=None, gift_form=None):
    from gifts.models import Gift, Store

    campaign = task.campaign
    script = services.script_for(campaign.pk)
    steps = list(script.steps.prefetch_related("branches__next_step"))
    invitation = services.invitation_for(task)
    gift_tier = invitation.tier if invitation else task.member.gift_tier
    gifts = [
        gift
        for gift in Gift.objects.filter(campaign=campaign, active=True)
        if gift.offered_to(gift_tier)
    ]
    if invitation is not None:
        from gifts.services import stores_for

        stores = list(stores_for(invitation=invitation)[:10])
    else:
        stores = list(
            Store.objects.filter(active=True, province=task.member.province)[:10]
        )
    facts = selectors.customer_facts(
        task=task, script=script, gifts=gifts, stores=stores
    )
    from callcenter.models import fill_placeholders

    for step in steps:
        step.filled = fill_placeholders(step.text, facts.values)
        step.qualified = step.code in facts.qualified
        step.branch_list = list(step.branches.all())
        for branch in step.branch_list:
            branch.filled = fill_placeholders(branch.text, facts.values)
    topics = [(step.code, f"{step.code} {step.title}") for step in script.topics()]
    # Every detail the offered gifts ask for, once; the page shows a gift's own.
    detail_fields = list(
        dict.fromkeys(field for gift in gifts for field in gift.detail_fields())
    )
    choice = (
        invitation.choices.select_related("gift", "store").first()
        if invitation
        else None
    )
    now = timezone.now()
    end_form = end_form or EndCallForm(
        topics=topics,
        initial={
            "revision": task.revision,
            "started_at": now.isoformat(timespec="seconds"),
        },
    )
    gift_form = gift_form or GiftForm(
        initial={
            "revision": invitation.revision if invitation else 0,
            "recipient_name": task.full_name,
            "address": facts.subscriber.address if facts.subscriber else "",
        }
    )
    return {
        "task": task,
        "campaign": campaign,
        "script": script,
        "steps": steps,
        "facts": facts,
        "topics": script.topics(),
        "invitation": invitation,
        "choice": choice,
        "gifts": gifts,
        "detail_fields": detail_fields,
        "stores": stores,
        "requests": task.requests.select_related("created_by")[:20],
        "calls": task.calls.select_related("agent")[:10],
        "timeline": selectors.timeline(task),
        "end_form": end_form,
        "gift_form": gift_form,
        "request_kinds": RequestKind.choices,
        "request_form": RequestForm(),
        "dispositions": Disposition,
        "arpu": selectors.vnd(facts.arpu),
        "points": facts.values.get("Điểm", ""),
        "can_work": task.agent_id == request.user.pk and not task.is_finished,
        "queue_url": _queue_url(campaign),
        "callback_text": selectors.local_text(task.callback_at),
    }


@login_required
def customer(request, pk: int):
    if not (selectors.is_agent(request.user) or selectors.is_supervisor(request.user)):
        raise PermissionDenied
    task = selectors.task_for(user=request.user, task_id=pk)
    return render(request, "callcenter/console.html", _console_context(request, task))


@login_required
@require_POST
def add_request(request, pk: int):
    _agent_required(request)
    task = selectors.task_for(user=request.user, task_id=pk)
    form = RequestForm(request.POST)
    if not form.is_valid():
        messages.error(request, _("The request was not sent as the page made it."))
        return redirect("callcenter:customer", pk=pk)
    try:
        request_row = services.request_add(
            task=task,
            agent=request.user,
            kind=form.cleaned_data["kind"],
            details=form.details(),
        )
    except DomainError as error:
        messages.error(request, str(error))
    else:
        messages.success(
            request,
            _("Recorded: %(kind)s.") % {"kind": request_row.get_kind_display()},
        )
    return redirect(reverse("callcenter:customer", args=[pk]) + "#requests")


@login_required
@require_POST
def choose_gift(request, pk: int):
    _agent_required(request)
    task = selectors.task_for(user=request.user, task_id=pk)
    form = GiftForm(request.POST)
    if not form.is_valid():
        messages.error(request, _("Choose a gift."))
        return redirect("callcenter:customer", pk=pk)
    from gifts.models import Gift

    gift = get_object_or_404(
        Gift, pk=form.cleaned_data["gift"], campaign_id=task.campaign_id
    )
    try:
        choice = services.gift_choose(
            task=task,
            agent=request.user,
            gift_id=gift.pk,
            revision=form.cleaned_data["revision"],
            recipient_name=form.cleaned_data["recipient_name"] or task.full_name,
            address=form.cleaned_data["address"] or "",
            store_id=form.cleaned_data["store"],
            extra=form.extra(gift),
        )
    except DomainError as error:
        messages.error(request, str(error))
    else:
        messages.success(
            request,
            _("Gift recorded: %(gift)s, code %(code)s.")
            % {"gift": choice.gift.name, "code": choice.code},
        )
    return redirect(reverse("callcenter:customer", args=[pk]) + "#gift")


@login_required
@require_POST
def end_call(request, pk: int):
    _agent_required(request)
    task = selectors.task_for(user=request.user, task_id=pk)
    script = services.script_for(task.campaign_id)
    topics = [(step.code, step.code) for step in script.topics()]
    form = EndCallForm(request.POST, topics=topics)
    if not form.is_valid():
        messages.error(
            request,
            _("Check the outcome form: %(errors)s")
            % {
                "errors": "; ".join(
                    f"{form.fields[name].label if name in form.fields else name}: "
                    f"{' '.join(errors)}"
                    for name, errors in form.errors.items()
                )
            },
        )
        return render(
            request,
            "callcenter/console.html",
            _console_context(request, task, end_form=form),
            status=400,
        )
    data = form.cleaned_data
    try:
        call = services.call_end(
            task=task,
            agent=request.user,
            revision=data["revision"],
            end=services.CallEnd(
                disposition=data["disposition"],
                started_at=data["started_at"],
                topics=data["topics"],
                reason=data["reason"] or "",
                callback_at=data["callback_at"],
                callback_anyone=data["callback_anyone"],
                note=data["note"] or "",
            ),
        )
    except DomainError as error:
        messages.error(request, str(error))
        task.refresh_from_db()
        return render(
            request,
            "callcenter/console.html",
            _console_context(request, task),
            status=409 if isinstance(error, services.Conflict) else 400,
        )
    text = _("Call ended: %(outcome)s.") % {"outcome": call.get_disposition_display()}
    if (
        call.disposition in (Disposition.DONE, Disposition.REACHED)
        and not call.rule_met
    ):
        text += " " + _("The call did not cover the topics the script asks for.")
    messages.success(request, text)
    if request.POST.get("then") == "next":
        return claim_next_after(request, task.campaign)
    return redirect(_queue_url(task.campaign))


def claim_next_after(request, campaign):
    try:
        task = services.task_claim_next(campaign=campaign, agent=request.user)
    except DomainError as error:
        messages.error(request, str(error))
        task = None
    if task is None:
        return redirect(_queue_url(campaign))
    return redirect("callcenter:customer", pk=task.pk)


# --- Supervisors --------------------------------------------------------------------


@login_required
def supervise(request):
    _supervisor_required(request)
    campaign, campaigns = _campaign(
        request, request.POST if request.method == "POST" else None
    )
    agents = selectors.agents()
    assign_form = AssignForm(agents=agents)
    move_form = MoveForm(agents=agents)
    if request.method == "POST" and campaign is not None:
        action = request.POST.get("action")
        try:
            if action == "load":
                added = services.call_list_load(campaign=campaign, actor=request.user)
                messages.success(
                    request,
                    _("%(count)s customers added to the list.") % {"count": added},
                )
                return redirect(_supervise_url(campaign))
            if action == "assign":
                assign_form = AssignForm(request.POST, agents=agents)
                if assign_form.is_valid():
                    moved = services.tasks_assign(
                        campaign=campaign,
                        agent=assign_form.cleaned_data["agent"],
                        count=assign_form.cleaned_data["count"],
                        actor=request.user,
                    )
                    messages.success(
                        request,
                        _("%(count)s customers given to %(agent)s.")
                        % {"count": moved, "agent": assign_form.cleaned_data["agent"]},
                    )
                    return redirect(_supervise_url(campaign))
            if action == "move":
                move_form = MoveForm(request.POST, agents=agents)
                if move_form.is_valid():
                    moved = services.tasks_move(
                        campaign=campaign,
                        from_agent=move_form.cleaned_data["from_agent"],
                        to_agent=move_form.cleaned_data["to_agent"],
                        count=move_form.cleaned_data["count"],
                        actor=request.user,
                    )
                    messages.success(
                        request, _("%(count)s customers moved.") % {"count": moved}
                    )
                    return redirect(_supervise_url(campaign))
        except DomainError as error:
            messages.error(request, str(error))
    context = {
        "campaign": campaign,
        "campaigns": campaigns,
        "assign_form": assign_form,
        "move_form": move_form,
        "dispositions": Disposition.choices,
    }
    if campaign is not None:
        context.update(
            rows=selectors.progress_by_agent(campaign_id=campaign.pk),
            totals=selectors.campaign_totals(campaign_id=campaign.pk),
        )
    return render(request, "callcenter/supervise.html", context)


def _supervise_url(campaign) -> str:
    return f"{reverse('callcenter:supervise')}?campaign={campaign.pk}"

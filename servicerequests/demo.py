"""Demo data for programme 003: the IVR script, scoped staff and requests in each state.

Idempotent: a campaign that already has requests is left as it is.
"""

from __future__ import annotations

from datetime import timedelta

from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.db.models import Count
from django.utils import timezone

from campaigns import roles
from campaigns import services as campaign_services
from campaigns.models import Campaign, SelectionMember, SelectionRun
from eligibility.models import DomainError
from servicerequests import selectors, services
from servicerequests.models import IvrScript, ServiceRequest, Source

DEMO_PASSWORD = "demo1234"

IVR_SCRIPT = {
    "intro": (
        "MobiFone sẽ ngừng phát sóng 2G tại khu vực Quý khách theo kế hoạch của Bộ "
        "Thông tin và Truyền thông. Để đăng ký thay SIM 4G tại nhà, hoàn toàn miễn "
        "phí, giữ nguyên số điện thoại và tài khoản, Quý khách vui lòng bấm phím 1."
    ),
    "key_1": (
        "Tổng đài MobiFone 9090 sẽ liên hệ Quý khách để xác nhận địa chỉ đến hỗ trợ "
        "thay SIM trong vòng 48 giờ. Cảm ơn Quý khách đã đồng hành cùng MobiFone."
    ),
    "key_2": "Để nghe lại cuộc gọi miễn phí: bấm phím 2.",
    "key_3": "Để gặp tổng đài viên tư vấn chi tiết: bấm phím 3.",
    "closing": "Cảm ơn Quý khách đã đồng hành cùng MobiFone.",
}

CONTRACTORS = [
    "Công ty TNHH Dịch vụ Viễn thông Tây Đô",
    "Công ty CP Kỹ thuật Mê Kông",
]


def demo_load(*, say=print) -> None:
    campaign = Campaign.objects.filter(code__startswith="003").order_by("code").first()
    if campaign is None:
        return
    IvrScript.objects.get_or_create(campaign=campaign, defaults=IVR_SCRIPT)
    run = selectors.list_run_for(campaign) or _list_run(campaign, say)
    if run is None:
        say("  003: no list, no service requests")
        return
    province, other_province = _provinces(run)
    users = _users(province, other_province, say)
    if campaign.service_requests.exists():
        return
    _requests(campaign, run, province, users, say)


def _list_run(campaign: Campaign, say) -> SelectionRun | None:
    """Select and approve 003's list (campaigns.demo normally has done it already)."""
    if campaign.selection_runs.filter(
        status__in=[SelectionRun.Status.QUEUED, SelectionRun.Status.RUNNING]
    ).exists():
        return None
    try:
        run = campaign_services.selection_run_start(campaign=campaign, enqueue=False)
        run = campaign_services.selection_run_execute(run_id=run.pk)
        if run.status != SelectionRun.Status.PREVIEW:
            return None
        run = campaign_services.selection_run_commit(run=run)
        run = campaign_services.selection_run_approve(run=run)
    except DomainError as exc:
        say(f"  003: selection not run: {exc}")
        return None
    say(f"  003: list of {run.selected_count} selected for home SIM swaps")
    return run


def _running_members(run: SelectionRun):
    """Selected members whose district's phase has started (see selectors)."""
    today = timezone.localdate()
    started = [
        phase.number for phase in run.campaign.phases.all() if phase.starts_on <= today
    ]
    return SelectionMember.objects.filter(run=run, selected=True, phase__in=started)


def _provinces(run: SelectionRun) -> tuple[str, str]:
    """The two provinces with the most members in a running phase (Cần Thơ first)."""
    counts = list(
        _running_members(run)
        .values("province")
        .annotate(n=Count("id"))
        .order_by("-n", "province")
        .values_list("province", flat=True)
    )
    if "Cần Thơ" in counts:
        counts.remove("Cần Thơ")
        counts.insert(0, "Cần Thơ")
    counts += ["Cần Thơ", "Vĩnh Long"]
    first = counts[0]
    second = next(name for name in counts if name != first)
    return first, second


def _user(username: str, role: str, say):
    User = get_user_model()
    user, created = User.objects.get_or_create(
        username=username, defaults={"is_staff": True}
    )
    if created:
        user.set_password(DEMO_PASSWORD)
        user.save()
        say(f"  {username} / {DEMO_PASSWORD}: {role}")
    user.groups.add(Group.objects.get(name=role))
    return user


def _users(province: str, other: str, say) -> dict:
    roles.sync_roles()
    users = {
        "tinh": _user("tinh", roles.PROVINCE_STAFF, say),
        "tinh2": _user("tinh2", roles.PROVINCE_STAFF, say),
        "thucdia": _user("thucdia", roles.FIELD_STAFF, say),
        "thucdia2": _user("thucdia2", roles.FIELD_STAFF, say),
        "thucdia3": _user("thucdia3", roles.FIELD_STAFF, say),
        "dtv": _user("dtv", roles.CALL_AGENT, say),
    }
    for name, place, contractor in [
        ("tinh", province, ""),
        ("tinh2", other, ""),
        ("thucdia", province, CONTRACTORS[0]),
        ("thucdia2", province, CONTRACTORS[1]),
        ("thucdia3", other, CONTRACTORS[0]),
    ]:
        if not hasattr(users[name], "service_scope"):
            services.staff_scope_set(
                user=users[name], province=place, contractor=contractor
            )
    return users


def _requests(campaign, run, province, users, say) -> None:
    """About ten requests, the province's members first, taken through each step.

    Agents work every province, so members of other provinces fill the list when
    the demo population is small; only the province's own ones can be allocated.
    """
    running = _running_members(run).order_by("rank")
    members = list(running.filter(province=province)[:10])
    members += list(running.exclude(province=province)[: 10 - len(members)])
    if not members:
        return
    now = timezone.now()
    created = []
    for index, member in enumerate(members):
        request, _created = services.request_register(
            campaign=campaign,
            msisdn=member.msisdn,
            source=[Source.SMS, Source.IVR, Source.WEB][index % 3],
            preferred_time="Buổi chiều" if index % 2 else "",
            # The first ones registered days ago, so their steps are late.
            registered_at=now - timedelta(days=max(0, 12 - 3 * index), hours=2),
        )
        created.append(request)
    # A number that is not on the list: recorded, with the reason.
    outsider = (
        SelectionMember.objects.filter(run=run, selected=False)
        .values_list("msisdn", flat=True)
        .first()
        or "84939999999"
    )
    services.request_register(
        campaign=campaign, msisdn=outsider, source=Source.WEB, full_name="Khách lạ"
    )
    agent = users["dtv"]
    # The two most recent stay unclaimed, for "Take more requests".
    services.requests_claim(agent=agent, limit=max(1, len(created) - 2))
    handled = 0
    for item in created:
        item.refresh_from_db()
        if item.agent_id != agent.pk:
            continue
        if handled == 6:
            services.request_confirm(
                request=item,
                actor=agent,
                outcome="cancelled",
                cancel_reason="Khách đã tự thay SIM tại cửa hàng",
            )
        elif handled < 6:
            services.request_confirm(
                request=item,
                actor=agent,
                outcome="corrected" if handled == 1 else "confirmed",
                address="25 Trần Văn Khéo, P. Cái Khế" if handled == 1 else "",
                note="Khách hẹn buổi chiều",
            )
        handled += 1
    confirmed = [
        item.pk
        for item in ServiceRequest.objects.filter(
            campaign=campaign, province=province, status="confirmed"
        ).order_by("registered_at", "id")
    ]
    # One confirmed request is left for the province to allocate.
    to_allocate = confirmed[:-1] if len(confirmed) > 1 else confirmed
    field = users["thucdia"]
    try:
        allocation = services.requests_allocate(
            province=province,
            request_ids=to_allocate,
            field_staff=field,
            actor=users["tinh"],
        )
    except DomainError:
        return
    allocated = list(allocation.requests.order_by("registered_at", "id"))
    # The oldest stays allocated (and overdue); the next ones are visited.
    for index, item in enumerate(allocated[1:3]):
        services.visit_record(
            request=item,
            actor=field,
            contacts_backed_up=True,
            sim_swapped=True,
            new_sim_serial=f"8984012{item.pk:012d}",
            app_installed=index == 0,
            record_corrected=index == 1,
            package_advised=True,
            package_code="C90N",
        )
    say(
        f"  003: {campaign.service_requests.count()} home SIM-swap requests "
        f"(province staff tinh: {province})"
    )

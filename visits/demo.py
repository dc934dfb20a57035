"""Demo data for store pickup, home visits and trips: logins with posts, 001's survey,
004's two tours with their call lists.

Idempotent: what is already there (by username, survey name, trip list) is left as
staff may have changed it. 001 and 004 get an approved list when they have none and
are still drafts.
"""

from __future__ import annotations

from datetime import date

from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.db.models import Count

from campaigns import roles
from campaigns.models import (
    Campaign,
    FulfilmentChannel,
    SelectionMember,
    SelectionRun,
)
from eligibility.models import DomainError
from gifts.models import Store
from visits import services
from visits.models import StaffPost, Survey, SurveyQuestion, Trip, TripInvitation

DEMO_PASSWORD = "demo1234"

SURVEY_001 = (
    "Phiếu khảo sát khách hàng 001",
    [
        (
            "Anh/chị hài lòng với chất lượng dịch vụ MobiFone ở mức nào?",
            SurveyQuestion.Kind.ONE,
            "Rất hài lòng\nHài lòng\nBình thường\nChưa hài lòng",
            True,
        ),
        (
            "Anh/chị đang dùng những dịch vụ nào?",
            SurveyQuestion.Kind.MANY,
            "Thoại\nSMS\nData 4G\nMobiFone Pay\nỨng dụng My MobiFone",
            False,
        ),
        (
            "Anh/chị có muốn đăng ký gói cước ưu đãi được tư vấn không?",
            SurveyQuestion.Kind.ONE,
            "Đăng ký ngay\nSẽ cân nhắc\nKhông",
            True,
        ),
        ("Góp ý khác của anh/chị", SurveyQuestion.Kind.TEXT, "", False),
    ],
)

# 004: tour 1 leaves Hà Nội on 16/11/2019, tour 2 HCMC on 18/11/2019, 7 days 6
# nights; passports valid at least through the end of 06/2020.
TRIPS_004 = [
    ("Đoàn 1 (Hà Nội)", "Đoàn 1: Pháp – Hà Lan – Bỉ", date(2019, 11, 16)),
    ("Đoàn 2 (TP Hồ Chí Minh)", "Đoàn 2: Pháp – Hà Lan – Bỉ", date(2019, 11, 18)),
]


def demo_load(*, say=print) -> None:
    campaign_001 = Campaign.objects.filter(code__startswith="001").first()
    if campaign_001 is not None:
        _load_001(campaign_001, say)
    campaign_004 = Campaign.objects.filter(code__startswith="004").first()
    if campaign_004 is not None:
        _load_004(campaign_004, say)


def _approved_run(campaign: Campaign, say) -> SelectionRun | None:
    from campaigns import services as campaign_services

    run = campaign.selection_runs.filter(status=SelectionRun.Status.APPROVED).first()
    if run is not None or campaign.status != Campaign.Status.DRAFT:
        return run
    run = campaign_services.selection_run_start(campaign=campaign, enqueue=False)
    run = campaign_services.selection_run_execute(run_id=run.pk)
    if run.status != SelectionRun.Status.PREVIEW:
        say(f"  {campaign.code}: selection failed: {run.error}")
        return None
    run = campaign_services.selection_run_commit(run=run)
    run = campaign_services.selection_run_approve(run=run)
    say(f"  {campaign.code}: selection run {run.number} approved")
    return run


def _user(username: str, *, first_name: str, group: str, say) -> object:
    User = get_user_model()
    user, created = User.objects.get_or_create(
        username=username, defaults={"is_staff": True, "first_name": first_name}
    )
    if created:
        user.set_password(DEMO_PASSWORD)
        user.save()
    user.groups.add(Group.objects.get(name=group))
    return user


def _busiest(members, *fields) -> dict | None:
    return (
        members.values(*fields).annotate(n=Count("id")).order_by("-n", *fields).first()
    )


def _load_001(campaign: Campaign, say) -> None:
    run = _approved_run(campaign, say)
    if run is None:
        say("Visits: 001 has no approved list, skipped.")
        return
    roles.sync_roles()
    members = SelectionMember.objects.filter(run=run, selected=True)
    pickup = _busiest(
        members.filter(channel=FulfilmentChannel.STORE_PICKUP), "province", "district"
    )
    home = _busiest(
        members.filter(channel=FulfilmentChannel.HOME_VISIT), "province", "district"
    )
    if pickup and not StaffPost.objects.filter(user__username="cuahang").exists():
        store = (
            Store.objects.filter(province=pickup["province"]).first()
            or Store.objects.get_or_create(
                code="demo-001-cua-hang",
                defaults={
                    "name": f"Cửa hàng MobiFone {pickup['district']}",
                    "address": f"1 Trần Phú, {pickup['district']}",
                    "province": pickup["province"],
                    "district": pickup["district"],
                    "opening_hours": "7:30–21:00",
                },
            )[0]
        )
        clerk = _user(
            "cuahang", first_name="Giao dịch viên", group=roles.PROVINCE_STAFF, say=say
        )
        StaffPost.objects.create(user=clerk, store=store)
    if home and not StaffPost.objects.filter(user__username="truonghuyen").exists():
        head = _user(
            "truonghuyen",
            first_name="Trưởng MF huyện",
            group=roles.PROVINCE_STAFF,
            say=say,
        )
        StaffPost.objects.create(
            user=head, province=home["province"], district=home["district"]
        )
    name, questions = SURVEY_001
    survey, created = Survey.objects.get_or_create(campaign=campaign, name=name)
    if created:
        SurveyQuestion.objects.bulk_create(
            SurveyQuestion(
                survey=survey,
                position=position,
                text=text,
                kind=kind,
                choices=choices,
                required=required,
            )
            for position, (text, kind, choices, required) in enumerate(questions, 1)
        )
    for post in StaffPost.objects.filter(
        user__username__in=["cuahang", "truonghuyen"]
    ).select_related("user", "store"):
        where = post.store.name if post.store else f"{post.district}, {post.province}"
        page = "/cua-hang/" if post.store else "/tham-nha/"
        say(f"  {post.user.username} / {DEMO_PASSWORD}: {page} ({where})")


def _load_004(campaign: Campaign, say) -> None:
    run = _approved_run(campaign, say)
    if run is None:
        say("Visits: 004 has no approved list, skipped.")
        return
    lists = set(
        SelectionMember.objects.filter(run=run, selected=True).values_list(
            "list_name", flat=True
        )
    )
    for list_name, name, departs_on in TRIPS_004:
        if list_name not in lists:
            continue
        trip, created = Trip.objects.get_or_create(
            campaign=campaign,
            list_name=list_name,
            defaults={
                "name": name,
                "departs_on": departs_on,
                "returns_on": date(departs_on.year, 11, departs_on.day + 6),
                "passport_valid_through": date(2020, 6, 30),
                "reply_days": 7,
            },
        )
        if not created:
            continue
        count = services.trip_invitations_open(trip=trip)
        say(f"  004 {trip.name}: {count} customers to call, /chuyen-di/{trip.pk}/")
        # One seat declined and offered to the next in line, to show the flow.
        first = TripInvitation.objects.filter(trip=trip).order_by("pk").first()
        if first is not None:
            services.trip_decline(
                invitation=first, actor=None, reason="Bận công tác (dữ liệu demo)"
            )
            try:
                services.trip_seat_offer_next(freed=first, actor=None)
            except DomainError as exc:
                say(f"  004: {exc}")

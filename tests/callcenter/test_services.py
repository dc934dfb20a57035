from datetime import timedelta

import pytest
from django.core.exceptions import ValidationError
from django.utils import timezone

from callcenter import selectors, services
from callcenter.models import (
    Call,
    CallEvent,
    CallRequest,
    CallTask,
    Disposition,
    RequestKind,
    ScriptStep,
    TaskStatus,
)
from eligibility.models import DomainError
from gifts import services as gift_services
from gifts.models import Choice, GiftKind, GiftStock, Invitation
from messaging.models import DoNotContact, LoyaltySignup, Message
from tests.callcenter.factories import (
    InvitationFactory,
    agent,
    call_campaign,
    gift_with_stock,
    tasks_of,
)

pytestmark = pytest.mark.django_db


def end(task, who, disposition, **fields):
    task.refresh_from_db()
    return services.call_end(
        task=task,
        agent=who,
        revision=task.revision,
        end=services.CallEnd(
            disposition=disposition,
            started_at=timezone.now() - timedelta(minutes=3),
            topics=fields.pop("topics", []),
            **fields,
        ),
    )


def test_loading_the_list_twice_adds_each_member_once():
    campaign = call_campaign(size=4)
    assert services.call_list_load(campaign=campaign) == 0
    tasks = tasks_of(campaign)
    assert [task.rank for task in tasks] == [1, 2, 3, 4]
    assert all(task.agent is None and task.status == "open" for task in tasks)


def test_a_list_is_refused_without_an_approved_selection():
    campaign = call_campaign(size=1)
    campaign.selection_runs.update(status="committed")
    with pytest.raises(DomainError, match="no approved list"):
        services.call_list_load(campaign=campaign)


def test_assigning_gives_the_highest_priority_customers_of_the_pool():
    campaign = call_campaign(size=5)
    an = agent("an")
    assert services.tasks_assign(campaign=campaign, agent=an, count=2) == 2
    assert [t.rank for t in CallTask.objects.filter(agent=an).order_by("rank")] == [
        1,
        2,
    ]
    assert services.tasks_assign(campaign=campaign, agent=an, count=10) == 3


def test_moving_work_hands_open_customers_to_another_agent_or_the_pool():
    campaign = call_campaign(size=4)
    an, binh = agent("an"), agent("binh")
    services.tasks_assign(campaign=campaign, agent=an, count=4)
    first = tasks_of(campaign)[0]
    end(first, an, Disposition.WRONG_PERSON)
    moved = services.tasks_move(campaign=campaign, from_agent=an, to_agent=binh)
    assert moved == 3
    first.refresh_from_db()
    assert first.agent == an  # finished work stays with who did it
    assert services.tasks_move(campaign=campaign, from_agent=binh, count=1) == 1
    assert CallTask.objects.filter(agent__isnull=True).count() == 1


def test_queue_puts_due_callbacks_first_then_priority_and_hides_later_ones():
    campaign = call_campaign(size=4)
    an = agent("an")
    services.tasks_assign(campaign=campaign, agent=an, count=4)
    t1, t2, t3, t4 = tasks_of(campaign)
    now = timezone.now()
    CallTask.objects.filter(pk=t3.pk).update(
        status=TaskStatus.CALLBACK,
        callback_at=now - timedelta(minutes=1),
        available_at=now - timedelta(minutes=1),
    )
    CallTask.objects.filter(pk=t2.pk).update(
        status=TaskStatus.CALLBACK,
        callback_at=now + timedelta(hours=1),
        available_at=now + timedelta(hours=1),
    )
    rows = selectors.queue_page(campaign_id=campaign.pk, agent_id=an.pk, now=now)
    assert [row["id"] for row in rows] == [t3.pk, t1.pk, t4.pk]


def test_do_not_call_numbers_never_reach_the_queue():
    campaign = call_campaign(size=2)
    an = agent("an")
    services.tasks_assign(campaign=campaign, agent=an, count=2)
    t1, t2 = tasks_of(campaign)
    DoNotContact.objects.create(msisdn=t1.msisdn, source="import")
    rows = selectors.queue_page(
        campaign_id=campaign.pk, agent_id=an.pk, now=timezone.now()
    )
    assert [row["id"] for row in rows] == [t2.pk]


def test_next_customer_comes_from_own_queue_then_the_pool():
    campaign = call_campaign(size=3)
    an = agent("an")
    services.tasks_assign(campaign=campaign, agent=an, count=1)
    own = services.task_claim_next(campaign=campaign, agent=an)
    assert own.rank == 1
    end(own, an, Disposition.DONE)
    pooled = services.task_claim_next(campaign=campaign, agent=an)
    assert pooled.rank == 2 and pooled.agent == an
    assert CallEvent.objects.filter(task=pooled, kind="claimed").exists()


def test_no_customer_is_handed_out_outside_calling_hours():
    campaign = call_campaign(size=1, all_day=False)
    script = campaign.call_script
    late = timezone.now().replace(hour=16, minute=0)  # 23:00 in Ho Chi Minh City
    assert not script.in_hours(late)
    with pytest.raises(DomainError, match="Calls are made between 08:00 and 21:00"):
        services.task_claim_next(campaign=campaign, agent=agent("an"), now=late)
    assert script.next_in_hours(late).astimezone(selectors.LOCAL_ZONE).hour == 8


def test_busy_with_a_time_becomes_a_callback_for_the_same_agent_or_anyone():
    campaign = call_campaign(size=2)
    an = agent("an")
    services.tasks_assign(campaign=campaign, agent=an, count=2)
    t1, t2 = tasks_of(campaign)
    at = timezone.now() + timedelta(hours=2)
    end(t1, an, Disposition.BUSY, callback_at=at)
    t1.refresh_from_db()
    assert (t1.status, t1.callback_at, t1.agent) == ("callback", at, an)
    end(t2, an, Disposition.BUSY, callback_at=at, callback_anyone=True)
    t2.refresh_from_db()
    assert t2.status == "callback" and t2.agent is None


def test_a_callback_in_the_past_or_outside_hours_is_refused():
    campaign = call_campaign(size=1, all_day=False)
    an = agent("an")
    services.tasks_assign(campaign=campaign, agent=an, count=1)
    (task,) = tasks_of(campaign)
    with pytest.raises(DomainError, match="later than now"):
        end(task, an, Disposition.BUSY, callback_at=timezone.now() - timedelta(hours=1))
    night = (timezone.now() + timedelta(days=1)).replace(hour=16, minute=0)
    with pytest.raises(DomainError, match="Callbacks are made between"):
        end(task, an, Disposition.BUSY, callback_at=night)
    assert not Call.objects.exists()


def test_no_answer_comes_back_after_the_delay_until_the_last_attempt():
    campaign = call_campaign(size=1)
    an = agent("an")
    services.tasks_assign(campaign=campaign, agent=an, count=1)
    (task,) = tasks_of(campaign)
    script = campaign.call_script
    before = timezone.now()
    end(task, an, Disposition.NO_ANSWER)
    task.refresh_from_db()
    assert task.status == "open"
    assert task.available_at >= before + timedelta(minutes=script.retry_minutes)
    assert (
        selectors.queue_page(
            campaign_id=campaign.pk, agent_id=an.pk, now=timezone.now()
        )
        == []
    )
    end(task, an, Disposition.BUSY)
    end(task, an, Disposition.NO_ANSWER)
    task.refresh_from_db()
    assert (task.status, task.attempts) == ("closed", 3)


def test_reached_needs_a_time_to_continue():
    campaign = call_campaign(size=1)
    an = agent("an")
    services.tasks_assign(campaign=campaign, agent=an, count=1)
    (task,) = tasks_of(campaign)
    with pytest.raises(DomainError, match="Agree a time"):
        end(task, an, Disposition.REACHED)
    at = timezone.now() + timedelta(hours=3)
    end(task, an, Disposition.REACHED, callback_at=at, topics=["B2"])
    task.refresh_from_db()
    assert (task.status, task.callback_at, task.agent) == ("callback", at, an)


def test_not_interested_needs_a_reason():
    campaign = call_campaign(size=1)
    an = agent("an")
    services.tasks_assign(campaign=campaign, agent=an, count=1)
    (task,) = tasks_of(campaign)
    with pytest.raises(DomainError, match="reason"):
        end(task, an, Disposition.NOT_INTERESTED, reason="  ")
    call = end(task, an, Disposition.NOT_INTERESTED, reason="Đã có quà chỗ khác")
    task.refresh_from_db()
    assert task.status == "closed" and call.reason == "Đã có quà chỗ khác"


def test_asking_not_to_be_called_puts_the_number_on_the_do_not_contact_list():
    campaign = call_campaign(size=1)
    an = agent("an")
    services.tasks_assign(campaign=campaign, agent=an, count=1)
    (task,) = tasks_of(campaign)
    end(task, an, Disposition.DO_NOT_CALL)
    task.refresh_from_db()
    assert task.status == "dnc"
    assert DoNotContact.objects.filter(msisdn=task.msisdn, source="staff").exists()


@pytest.mark.parametrize(
    ("covered", "met"),
    [(["B2", "B3"], True), (["B3", "B4", "B5"], False), (["B2"], False)],
)
def test_the_rule_asks_for_two_topics_in_priority_order(covered, met):
    campaign = call_campaign(size=1)
    an = agent("an")
    services.tasks_assign(campaign=campaign, agent=an, count=1)
    (task,) = tasks_of(campaign)
    call = end(task, an, Disposition.DONE, topics=covered)
    assert call.qualified_topics == ["B2", "B3", "B4", "B5"]
    assert call.rule_met is met


def test_a_customer_with_one_topic_meets_the_rule_with_that_topic():
    campaign = call_campaign(
        size=1,
        loyalty_points=0,
        package_code="F90",
        record_standardized=True,
        is_owner=True,
    )
    an = agent("an")
    services.tasks_assign(campaign=campaign, agent=an, count=1)
    (task,) = tasks_of(campaign)
    call = end(task, an, Disposition.DONE, topics=["B5"])
    assert call.qualified_topics == ["B5"] and call.rule_met


def test_a_page_drawn_before_another_change_is_refused_and_requests_are_kept():
    campaign = call_campaign(size=1)
    an = agent("an")
    services.tasks_assign(campaign=campaign, agent=an, count=1)
    (task,) = tasks_of(campaign)
    stale = task.revision
    services.request_add(task=task, agent=an, kind=RequestKind.MVAS_CANCEL, details={})
    end(task, an, Disposition.BUSY, callback_at=timezone.now() + timedelta(hours=1))
    with pytest.raises(services.Conflict):
        services.call_end(
            task=task,
            agent=an,
            revision=stale,
            end=services.CallEnd(
                disposition=Disposition.DONE, started_at=timezone.now(), topics=[]
            ),
        )
    assert Call.objects.count() == 1
    assert CallRequest.objects.filter(task=task).count() == 1


def test_a_loyalty_sign_up_agreed_on_the_call_joins_the_sms_sign_ups():
    campaign = call_campaign(size=2)
    an = agent("an")
    services.tasks_assign(campaign=campaign, agent=an, count=2)
    first, second = tasks_of(campaign)
    # The second customer had sent DK by SMS but never confirmed with XN.
    LoyaltySignup.objects.create(msisdn=second.msisdn, requested_at=timezone.now())

    for task in (first, second):
        services.request_add(task=task, agent=an, kind=RequestKind.LOYALTY, details={})

    signups = {s.msisdn: s for s in LoyaltySignup.objects.all()}
    assert signups[first.msisdn].source == "call"
    assert signups[first.msisdn].confirmed_at is not None
    assert signups[second.msisdn].source == "sms"
    assert signups[second.msisdn].confirmed_at is not None


def test_a_complaint_is_due_within_48_hours():
    campaign = call_campaign(size=1)
    an = agent("an")
    services.tasks_assign(campaign=campaign, agent=an, count=1)
    (task,) = tasks_of(campaign)
    now = timezone.now()
    request = services.request_add(
        task=task,
        agent=an,
        kind=RequestKind.COMPLAINT,
        details={"text": "Sóng yếu ở nhà"},
        now=now,
    )
    assert request.due_at == now + timedelta(hours=48)
    with pytest.raises(DomainError, match="complaint"):
        services.request_add(
            task=task, agent=an, kind=RequestKind.COMPLAINT, details={"text": ""}
        )
    with pytest.raises(DomainError, match="package"):
        services.request_add(task=task, agent=an, kind=RequestKind.PACKAGE, details={})


def test_an_agent_cannot_work_a_customer_of_another_queue():
    campaign = call_campaign(size=1)
    an, binh = agent("an"), agent("binh")
    services.tasks_assign(campaign=campaign, agent=an, count=1)
    (task,) = tasks_of(campaign)
    with pytest.raises(DomainError, match="not in your queue"):
        services.request_add(task=task, agent=binh, kind=RequestKind.APP, details={})
    with pytest.raises(DomainError, match="not in your queue"):
        end(task, binh, Disposition.DONE)


def test_follow_up_messages_are_queued_once_when_the_call_ends():
    from messaging.demo import demo_load_templates

    campaign = call_campaign(size=1)
    demo_load_templates()
    an = agent("an")
    services.tasks_assign(campaign=campaign, agent=an, count=1)
    (task,) = tasks_of(campaign)
    for kind, details in [
        (RequestKind.LOYALTY, {}),
        (RequestKind.PACKAGE, {"package": "F90", "enough_balance": "no"}),
        (RequestKind.RECORD_UPDATE, {"online": "yes"}),
        (RequestKind.APP, {"os": "android"}),
    ]:
        services.request_add(task=task, agent=an, kind=kind, details=details)
    end(task, an, Disposition.REACHED, callback_at=timezone.now() + timedelta(hours=1))
    purposes = sorted(
        Message.objects.filter(msisdn=task.msisdn).values_list("purpose", "channel")
    )
    assert purposes == [
        ("app_link", "sms"),
        ("loyalty_signup", "sms"),
        ("package_offer", "sms"),
        ("zalo_record_update", "zalo"),
    ]
    offer = Message.objects.get(msisdn=task.msisdn, purpose="package_offer")
    assert "F90" in offer.body
    services.request_add(task=task, agent=an, kind=RequestKind.APP, details={})
    end(task, an, Disposition.DONE)
    assert Message.objects.filter(msisdn=task.msisdn).count() == 4


def test_gift_chosen_on_the_call_takes_stock_through_the_gift_rules():
    campaign = call_campaign(size=1)
    an = agent("an")
    services.tasks_assign(campaign=campaign, agent=an, count=1)
    (task,) = tasks_of(campaign)
    insurance = gift_with_stock(
        campaign,
        units=1,
        kind=GiftKind.INSURANCE,
        extra_details=["vehicle_registration", "vehicle_owner"],
    )
    with pytest.raises(DomainError, match="no gift invitation"):
        services.gift_choose(task=task, agent=an, gift_id=insurance.pk, revision=0)
    invitation = InvitationFactory(member=task.member)
    with pytest.raises(DomainError, match="Fill in"):
        services.gift_choose(
            task=task,
            agent=an,
            gift_id=insurance.pk,
            revision=0,
            extra={"vehicle_registration": "65B1-123.45"},
        )
    choice = services.gift_choose(
        task=task,
        agent=an,
        gift_id=insurance.pk,
        revision=0,
        extra={"vehicle_registration": "65B1-123.45", "vehicle_owner": "Khách hàng 1"},
    )
    assert choice.chosen_by_agent == an
    assert choice.details["vehicle_registration"] == "65B1-123.45"
    assert GiftStock.objects.get(gift=insurance).remaining == 0
    invitation.refresh_from_db()
    assert invitation.status == "chosen"
    assert CallEvent.objects.filter(task=task, kind="gift_chosen").exists()
    other = tasks_of(campaign)[0]
    assert Choice.objects.filter(invitation__msisdn=other.msisdn).count() == 1


def test_sweep_reminds_due_callbacks_and_escalates_late_ones_to_the_pool():
    campaign = call_campaign(size=2)
    an = agent("an")
    services.tasks_assign(campaign=campaign, agent=an, count=2)
    t1, t2 = tasks_of(campaign)
    now = timezone.now()
    for task, minutes in [(t1, 5), (t2, 45)]:
        CallTask.objects.filter(pk=task.pk).update(
            status=TaskStatus.CALLBACK,
            callback_at=now - timedelta(minutes=minutes),
            available_at=now - timedelta(minutes=minutes),
        )
    result = services.callbacks_sweep(now=now)
    assert (result.reminded, result.escalated) == (2, 1)
    t1.refresh_from_db()
    t2.refresh_from_db()
    assert t1.agent == an and t1.callback_reminded_at == now and not t1.escalated_at
    assert t2.agent is None and t2.escalated_at == now
    again = services.callbacks_sweep(now=now)
    assert (again.reminded, again.escalated) == (0, 0)


def test_unknown_placeholders_are_refused_when_the_script_is_saved():
    campaign = call_campaign(size=1)
    step = ScriptStep(
        script=campaign.call_script,
        code="B9",
        title="Thử",
        text="Chào [Tên KH], [Số dư]",
    )
    with pytest.raises(ValidationError, match=r"\[Số dư\]"):
        step.full_clean()


def test_script_002_fills_the_customers_data():
    campaign = call_campaign(size=1)
    (task,) = tasks_of(campaign)
    script = campaign.call_script
    facts = selectors.customer_facts(task=task, script=script, gifts=[], stores=[])
    from callcenter.models import fill_placeholders

    b2 = script.steps.get(code="B2")
    text = fill_placeholders(b2.text, facts.values)
    assert "Khách hàng 1" in text and "1.250 điểm" in text and "Vàng" in text
    assert "[" not in text
    codes = list(script.steps.values_list("code", flat=True))
    assert codes == ["B1", "B2", "B3", "B4", "B5", "B6"]
    b1 = script.steps.get(code="B1")
    assert {b.disposition for b in b1.branches.all()} >= {
        "wrong_person",
        "busy",
        "not_interested",
    }


def test_the_list_command_says_what_it_would_add_and_adds_with_commit():
    from io import StringIO

    from django.core.management import call_command

    campaign = call_campaign(size=2)
    CallTask.objects.all().delete()
    out = StringIO()
    call_command("call_list_load", campaign.code, stdout=out)
    assert "Would add" in out.getvalue() and " 2 " in out.getvalue()
    assert not CallTask.objects.exists()
    call_command("call_list_load", campaign.code, "--commit", stdout=out)
    assert CallTask.objects.count() == 2


def test_a_call_list_with_gifts_invites_its_members_without_passwords_or_sms():
    campaign = call_campaign(size=2)
    gift = gift_with_stock(campaign, units=5, kind=GiftKind.E_VOUCHER)
    assert not services.invitation_for(tasks_of(campaign)[0])

    services.call_list_load(campaign=campaign)

    invitations = Invitation.objects.filter(campaign=campaign)
    assert invitations.count() == 2
    assert not Message.objects.filter(campaign=campaign).exists()
    # No password opens these invitations on the gift site...
    invitation = invitations.get(msisdn="84900000001")
    for password in ["", "-", "000000"]:
        with pytest.raises(gift_services.LoginRefused):
            gift_services.invitation_login(msisdn="84900000001", password=password)
    # ...but the agent chooses on the call.
    an = agent("an")
    services.tasks_assign(campaign=campaign, agent=an, count=2)
    task = CallTask.objects.get(campaign=campaign, msisdn="84900000001")
    choice = services.gift_choose(task=task, agent=an, gift_id=gift.pk, revision=0)
    assert choice.invitation == invitation and choice.chosen_by_agent == an
    # Loading again invites nobody twice.
    services.call_list_load(campaign=campaign)
    assert Invitation.objects.filter(campaign=campaign).count() == 2

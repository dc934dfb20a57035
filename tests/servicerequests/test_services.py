from datetime import timedelta

import pytest
from django.utils import timezone

from campaigns.models import SelectionRun
from eligibility.models import DomainError
from messaging.models import InboundMessage, Message
from messaging.services import inbound_receive
from servicerequests import selectors, services
from servicerequests.models import (
    ServiceRequest,
    ServiceRequestEvent,
    Source,
    Status,
)
from tests.servicerequests.factories import CAN_THO, member, sim_swap_campaign

pytestmark = pytest.mark.django_db


# --- Eligibility --------------------------------------------------------------------


def test_number_on_the_list_in_a_running_phase_is_eligible(campaign):
    request, created = services.request_register(
        campaign=campaign, msisdn="0901 000 001", source=Source.WEB
    )
    assert created
    assert request.status == Status.NEW
    assert request.msisdn == "84901000001"
    assert request.list_name == "Danh sách 1"
    assert request.province == CAN_THO
    assert request.full_name == "Nguyễn Văn An"
    assert request.run.status == SelectionRun.Status.APPROVED


APRIL_2021 = timezone.make_aware(timezone.datetime(2021, 4, 20, 9, 0))


@pytest.mark.parametrize(
    ("msisdn", "registered_at", "reason"),
    [
        ("84901000004", None, "not on the programme's list"),
        ("84988888888", None, "not on the programme's list"),
        # A district of phase 2 ("the remaining districts") before phase 2 starts.
        ("84901000001", APRIL_2021, "phase 2 starts on 01/06/2021"),
    ],
)
def test_ineligible_request_is_recorded_with_the_reason(
    campaign, msisdn, registered_at, reason
):
    request, created = services.request_register(
        campaign=campaign,
        msisdn=msisdn,
        source=Source.WEB,
        registered_at=registered_at,
    )
    assert created
    assert request.status == Status.INELIGIBLE
    assert reason in request.ineligible_reason
    event = request.events.get()
    assert event.kind == ServiceRequestEvent.Kind.REGISTERED
    assert reason in event.data["reason"]


def test_central_district_stays_covered_after_its_phase_1_push(campaign):
    during, _ = services.request_register(
        campaign=campaign,
        msisdn="84901000003",
        source=Source.WEB,
        registered_at=APRIL_2021,
    )
    assert during.status == Status.NEW and during.phase == 1
    ServiceRequest.objects.filter(pk=during.pk).update(status=Status.CANCELLED)
    later, _ = services.request_register(
        campaign=campaign, msisdn="84901000003", source=Source.WEB
    )
    assert later.status == Status.NEW


def test_programme_end_closes_intake_everywhere(campaign):
    from datetime import date

    campaign.ends_on = date(2021, 12, 31)
    campaign.save()
    request, _ = services.request_register(
        campaign=campaign, msisdn="84901000001", source=Source.WEB
    )
    assert request.status == Status.INELIGIBLE
    assert "ended on 31/12/2021" in request.ineligible_reason


def test_list_2_member_is_eligible_and_keeps_its_list(campaign):
    request, _ = services.request_register(
        campaign=campaign, msisdn="84901000002", source=Source.IVR
    )
    assert request.status == Status.NEW
    assert request.list_name == "Danh sách 2"


def test_campaign_without_a_frozen_list_refuses_with_the_reason(db):
    campaign, run = sim_swap_campaign(
        code="003-b", run_status=SelectionRun.Status.PREVIEW
    )
    member(run, "84901000001")
    request, _ = services.request_register(
        campaign=campaign, msisdn="84901000001", source=Source.WEB
    )
    assert request.status == Status.INELIGIBLE
    assert "no approved list" in request.ineligible_reason


def test_committed_list_is_not_enough_until_it_is_approved(db):
    campaign, run = sim_swap_campaign(
        code="003-c", run_status=SelectionRun.Status.COMMITTED
    )
    member(run, "84901000001")
    request, _ = services.request_register(
        campaign=campaign, msisdn="84901000001", source=Source.WEB
    )
    assert request.status == Status.INELIGIBLE
    assert "no approved list" in request.ineligible_reason
    assert selectors.campaign_for_requests() is None


def test_invalid_number_is_refused(campaign):
    with pytest.raises(DomainError, match="not a Vietnamese mobile number"):
        services.request_register(campaign=campaign, msisdn="12345", source=Source.WEB)
    assert not ServiceRequest.objects.exists()


def test_second_request_while_one_is_open_returns_the_first(campaign):
    first, _ = services.request_register(
        campaign=campaign, msisdn="84901000001", source=Source.SMS
    )
    again, created = services.request_register(
        campaign=campaign, msisdn="0901000001", source=Source.WEB
    )
    assert not created
    assert again.pk == first.pk
    assert ServiceRequest.objects.count() == 1
    assert list(first.events.values_list("kind", flat=True)) == [
        "registered",
        "repeated",
    ]


def test_deadlines_are_end_of_next_day_and_ten_days(campaign):
    registered = timezone.make_aware(timezone.datetime(2026, 11, 20, 15, 0))
    request, _ = services.request_register(
        campaign=campaign,
        msisdn="84901000001",
        source=Source.WEB,
        registered_at=registered,
    )
    due = timezone.localtime(request.confirm_due_at)
    assert (due.day, due.month, due.hour, due.minute) == (21, 11, 23, 59)
    visit = timezone.localtime(request.visit_due_at)
    assert (visit.day, visit.month) == (30, 11)


# --- SMS keyword --------------------------------------------------------------------


def _tstn(gateway_id, msisdn="84901000001", text="TSTN"):
    return inbound_receive(
        gateway_id=gateway_id, msisdn=msisdn, short_code="9231", text=text
    )


def test_tstn_registers_the_sender_and_replies_through_the_outbox(campaign):
    inbound, _ = _tstn("mo-1")
    request = ServiceRequest.objects.get()
    assert request.source == Source.SMS
    assert request.status == Status.NEW
    assert inbound.outcome == InboundMessage.Outcome.HANDLED
    reply = Message.objects.get(msisdn="84901000001")
    assert "da nhan yeu cau thay SIM 4G" in reply.body
    assert reply.sender == "9231"


def test_same_mo_delivered_twice_makes_one_request_and_one_reply(campaign):
    _tstn("mo-1")
    _tstn("mo-1")
    assert ServiceRequest.objects.count() == 1
    assert InboundMessage.objects.count() == 1
    assert Message.objects.count() == 1


def test_customer_sending_tstn_again_keeps_one_request_and_is_told_so(campaign):
    _tstn("mo-1")
    _tstn("mo-2", text="tstn")
    assert ServiceRequest.objects.count() == 1
    bodies = list(Message.objects.order_by("id").values_list("body", flat=True))
    assert len(bodies) == 2
    assert "da duoc ghi nhan truoc do" in bodies[1]


def test_tstn_from_a_number_not_on_the_list_is_told_and_recorded(campaign):
    _tstn("mo-9", msisdn="0988888888")
    request = ServiceRequest.objects.get()
    assert request.status == Status.INELIGIBLE
    assert "chua thuoc doi tuong" in Message.objects.get().body


def test_tstn_to_another_short_code_gets_the_help_reply(campaign):
    inbound_receive(
        gateway_id="x", msisdn="84901000001", short_code="9237", text="TSTN"
    )
    assert not ServiceRequest.objects.exists()
    assert (
        InboundMessage.objects.get().outcome == InboundMessage.Outcome.UNKNOWN_KEYWORD
    )


def test_tstn_with_no_programme_running_is_answered(db):
    _tstn("mo-1")
    assert not ServiceRequest.objects.exists()
    assert "chua trien khai" in Message.objects.get().body


# --- Step 2 -------------------------------------------------------------------------


def test_claim_gives_the_oldest_deadlines_first_and_only_once(flow, agent, other_agent):
    now = timezone.now()
    late = flow.register("84901000001", registered_at=now - timedelta(days=3))
    recent = flow.register("84901000002")
    assert services.requests_claim(agent=agent, limit=1) == 1
    late.refresh_from_db()
    assert late.agent == agent
    assert services.requests_claim(agent=other_agent, limit=5) == 1
    recent.refresh_from_db()
    assert recent.agent == other_agent
    assert services.requests_claim(agent=agent, limit=5) == 0


def test_confirmation_with_corrected_address_and_appointment(flow, agent):
    request = flow.register("84901000001", address="Ấp 1, Phong Điền")
    services.requests_claim(agent=agent)
    request.refresh_from_db()
    appointment = timezone.now() + timedelta(days=2)
    done = services.request_confirm(
        request=request,
        actor=agent,
        outcome="corrected",
        address="12 Nguyễn Trãi, Ninh Kiều",
        appointment_at=appointment,
    )
    assert done.status == Status.CONFIRMED
    assert done.address == "12 Nguyễn Trãi, Ninh Kiều"
    assert done.address_corrected
    assert done.visit_due_at == appointment
    event = done.events.get(kind="corrected")
    assert event.actor == agent
    assert event.data["old_address"] == "Ấp 1, Phong Điền"


def test_agent_cannot_confirm_a_request_of_another_queue(flow, agent, other_agent):
    request = flow.register("84901000001")
    services.requests_claim(agent=agent)
    request.refresh_from_db()
    with pytest.raises(DomainError, match="not in your queue"):
        services.request_confirm(
            request=request, actor=other_agent, outcome="confirmed"
        )


def test_cancellation_needs_a_reason_and_closes_the_request(flow, agent):
    request = flow.register("84901000001")
    services.requests_claim(agent=agent)
    request.refresh_from_db()
    with pytest.raises(DomainError, match="why"):
        services.request_confirm(request=request, actor=agent, outcome="cancelled")
    done = services.request_confirm(
        request=request, actor=agent, outcome="cancelled", cancel_reason="Đã đổi SIM"
    )
    assert done.status == Status.CANCELLED
    # A closed request frees the number for a new one later.
    again, created = services.request_register(
        campaign=request.campaign, msisdn="84901000001", source=Source.SMS
    )
    assert created and again.pk != request.pk


def test_confirming_twice_is_refused(flow, agent):
    request = flow.confirmed("84901000001")
    with pytest.raises(DomainError, match="cannot become"):
        services.request_confirm(request=request, actor=agent, outcome="confirmed")


# --- Step 3 -------------------------------------------------------------------------


def test_allocation_moves_only_confirmed_requests_of_the_province(
    flow, can_tho_staff, field_a
):
    one = flow.confirmed("84901000001")
    two = flow.confirmed("84901000002")
    waiting = flow.register("84901000006")
    other_province = flow.confirmed("84901000005")
    allocation = services.requests_allocate(
        province=CAN_THO,
        request_ids=[one.pk, two.pk, waiting.pk, other_province.pk],
        field_staff=field_a,
        actor=can_tho_staff,
    )
    assert allocation.count == 2
    statuses = dict(ServiceRequest.objects.values_list("msisdn", "status"))
    assert statuses == {
        "84901000001": "allocated",
        "84901000002": "allocated",
        "84901000006": "new",
        "84901000005": "confirmed",
    }
    one.refresh_from_db()
    assert one.field_staff == field_a and one.contractor == "Tây Đô"
    event = one.events.get(kind="allocated")
    assert event.actor == can_tho_staff
    assert event.data == {"field_staff": "td-a", "allocation": allocation.pk}
    assert ServiceRequestEvent.objects.filter(kind="allocated").count() == 2


def test_allocation_to_field_staff_of_another_province_is_refused(
    flow, can_tho_staff, field_vl
):
    one = flow.confirmed("84901000001")
    with pytest.raises(DomainError, match="not field staff of your province"):
        services.requests_allocate(
            province=CAN_THO,
            request_ids=[one.pk],
            field_staff=field_vl,
            actor=can_tho_staff,
        )
    one.refresh_from_db()
    assert one.status == Status.CONFIRMED


def test_allocation_with_nothing_confirmed_writes_nothing(flow, can_tho_staff, field_a):
    waiting = flow.register("84901000001")
    with pytest.raises(DomainError, match="None of the chosen"):
        services.requests_allocate(
            province=CAN_THO,
            request_ids=[waiting.pk],
            field_staff=field_a,
            actor=can_tho_staff,
        )
    assert not ServiceRequestEvent.objects.filter(kind="allocated").exists()
    from servicerequests.models import Allocation

    assert not Allocation.objects.exists()


def test_visit_records_the_swap_and_completes_the_request(flow, field_a):
    request = flow.allocated("84901000001", field_a)
    done = services.visit_record(
        request=request,
        actor=field_a,
        contacts_backed_up=True,
        sim_swapped=True,
        new_sim_serial="8984 0123 4567 8901 234",
        app_installed=True,
        record_corrected=True,
        package_advised=True,
        package_code="C90N",
    )
    assert done.status == Status.COMPLETED
    assert done.new_sim_serial == "8984012345678901234"
    assert done.visited_at is not None
    assert done.events.get(kind="visited").actor == field_a


@pytest.mark.parametrize("serial", ["", "123", "7984012345678901234"])
def test_swap_without_a_valid_serial_is_refused(flow, field_a, serial):
    request = flow.allocated("84901000001", field_a)
    with pytest.raises(DomainError, match="ICCID"):
        services.visit_record(
            request=request,
            actor=field_a,
            contacts_backed_up=False,
            sim_swapped=True,
            new_sim_serial=serial,
            app_installed=False,
            record_corrected=False,
            package_advised=False,
        )
    request.refresh_from_db()
    assert request.status == Status.ALLOCATED


def test_same_sim_serial_cannot_be_used_twice(flow, field_a):
    flow.visited("84901000001", field_a, "8984012345678901234")
    request = flow.allocated("84901000002", field_a)
    with pytest.raises(DomainError, match="already recorded"):
        services.visit_record(
            request=request,
            actor=field_a,
            contacts_backed_up=False,
            sim_swapped=True,
            new_sim_serial="8984012345678901234",
            app_installed=False,
            record_corrected=False,
            package_advised=False,
        )


def test_field_staff_cannot_record_a_visit_of_another_allocation(
    flow, field_a, field_b
):
    request = flow.allocated("84901000001", field_a)
    with pytest.raises(DomainError, match="not allocated to you"):
        services.visit_record(
            request=request,
            actor=field_b,
            contacts_backed_up=True,
            sim_swapped=False,
            new_sim_serial="",
            app_installed=True,
            record_corrected=False,
            package_advised=False,
        )


def test_taking_back_an_allocation_lets_it_go_to_someone_else(
    flow, can_tho_staff, field_a, field_b
):
    request = flow.allocated("84901000001", field_a)
    services.request_unallocate(request=request, actor=can_tho_staff)
    services.requests_allocate(
        province=CAN_THO,
        request_ids=[request.pk],
        field_staff=field_b,
        actor=can_tho_staff,
    )
    request.refresh_from_db()
    assert request.field_staff == field_b and request.contractor == "Mê Kông"
    assert [e.kind for e in request.events.all()][-3:] == [
        "allocated",
        "unallocated",
        "allocated",
    ]


# --- Overdue and step 4 -------------------------------------------------------------


def test_overdue_flags_follow_the_step_the_request_waits_for(flow, field_a):
    now = timezone.now()
    old = now - timedelta(days=11)
    late_call = flow.register("84901000001", registered_at=old)
    on_time = flow.register("84901000002")
    late_visit = flow.allocated("84901000006", field_a, registered_at=old)
    flagged = dict(
        ServiceRequest.objects.with_overdue(now).values_list("msisdn", "overdue")
    )
    assert flagged == {
        "84901000001": True,
        "84901000002": False,
        "84901000006": True,
    }
    assert late_call.is_overdue(now) and not on_time.is_overdue(now)
    assert late_visit.is_overdue(now)
    assert list(ServiceRequest.objects.confirm_overdue(now)) == [late_call]
    assert list(ServiceRequest.objects.visit_overdue(now)) == [late_visit]


def test_appointment_later_than_ten_days_is_not_overdue(flow, agent):
    registered = timezone.now() - timedelta(days=11)
    request = flow.register("84901000001", registered_at=registered)
    services.requests_claim(agent=agent)
    request.refresh_from_db()
    confirmed = services.request_confirm(
        request=request,
        actor=agent,
        outcome="confirmed",
        appointment_at=timezone.now() + timedelta(days=1),
    )
    assert not confirmed.is_overdue()


def test_reconciliation_counts_swaps_and_installs_per_contractor(
    flow, field_a, field_b
):
    flow.visited("84901000001", field_a, "8984010000000000001", app=True)
    flow.visited("84901000002", field_a, "8984010000000000002", app=False)
    flow.visited("84901000006", field_b, "", app=True)  # app only, no swap
    flow.allocated("84901000007", field_b)  # not visited: not paid
    today = timezone.localdate()
    rows = selectors.reconciliation(province=CAN_THO, start=today, end=today)
    assert [
        (r["contractor"], r["visits"], r["sim_swaps"], r["app_installs"]) for r in rows
    ] == [("Mê Kông", 1, 0, 1), ("Tây Đô", 2, 2, 1)]
    assert selectors.reconciliation(province="Vĩnh Long", start=today, end=today) == []
    yesterday = today - timedelta(days=1)
    assert (
        selectors.reconciliation(province=CAN_THO, start=yesterday, end=yesterday) == []
    )


def test_sharing_with_a_worker_of_another_province_allocates_nothing(
    flow, can_tho_staff, field_a, field_vl
):
    ids = [flow.confirmed(n).pk for n in ["84901000001", "84901000002"]]
    with pytest.raises(DomainError, match="not field staff of your province"):
        services.requests_share(
            province=CAN_THO,
            request_ids=ids,
            field_staff=[field_a, field_vl],
            actor=can_tho_staff,
        )
    assert set(ServiceRequest.objects.values_list("status", flat=True)) == {
        Status.CONFIRMED
    }
    assert not ServiceRequestEvent.objects.filter(kind="allocated").exists()


def test_sharing_cuts_contiguous_blocks_by_district(
    flow, can_tho_staff, field_a, field_b
):
    from tests.servicerequests.factories import member

    run = flow.register("84901000001").run
    member(run, "84901000011", district="Huyện Thới Lai")
    member(run, "84901000012", district="Huyện Thới Lai")
    ServiceRequest.objects.all().delete()
    ids = [
        flow.confirmed(n).pk
        for n in ["84901000011", "84901000001", "84901000012", "84901000002"]
    ]
    services.requests_share(
        province=CAN_THO,
        request_ids=ids,
        field_staff=[field_a, field_b],
        actor=can_tho_staff,
    )
    by_worker = dict(
        ServiceRequest.objects.filter(field_staff=field_b).values_list(
            "msisdn", "district"
        )
    )
    assert set(by_worker.values()) == {"Huyện Thới Lai"}
    assert len(by_worker) == 2

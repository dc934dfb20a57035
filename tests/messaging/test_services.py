import threading
from datetime import timedelta

import pytest
from django.db import connection
from django.utils import timezone

from eligibility.models import DomainError
from messaging import services
from messaging.backends import SendResult, locmem
from messaging.models import (
    DeliveryReport,
    DoNotContact,
    Message,
    MessagingSettings,
    Schedule,
)
from tests.campaigns.factories import CampaignFactory
from tests.messaging.conftest import ALL_DAY
from tests.messaging.factories import MessageTemplateFactory

CONTEXT = {"password": "123456", "deadline": "23:59 13/11/2022"}


def enqueue(campaign, msisdn="0901234567", **kwargs):
    return services.message_enqueue(
        campaign=campaign,
        msisdn=msisdn,
        purpose=kwargs.pop("purpose", "invitation"),
        context=kwargs.pop("context", CONTEXT),
        **kwargs,
    )


def test_enqueueing_the_same_message_twice_writes_one_row(invitation):
    first = enqueue(invitation.campaign)
    second = enqueue(invitation.campaign, msisdn="84901234567")
    assert first.pk == second.pk
    assert Message.objects.count() == 1
    assert first.msisdn == "84901234567"
    assert first.status == Message.Status.QUEUED


def test_promotional_message_to_a_do_not_contact_number_is_cancelled(campaign):
    MessageTemplateFactory(
        campaign=campaign, purpose="points", body="Quy khach co {points} diem"
    )
    services.do_not_contact_add(msisdn="0901234567", source="staff")
    message = enqueue(campaign, purpose="points", context={"points": 1250})
    assert message.status == Message.Status.CANCELLED
    assert "do-not-contact" in message.last_error


def test_service_message_reaches_a_do_not_contact_number(invitation):
    services.do_not_contact_add(msisdn="0901234567", source="staff")
    assert enqueue(invitation.campaign).status == Message.Status.QUEUED


def test_cap_per_customer_cancels_the_message_past_it(campaign):
    MessagingSettings.objects.filter(campaign=campaign).update(cap_per_subscriber=2)
    MessageTemplateFactory(
        campaign=campaign, purpose="points", body="Quy khach co {points} diem"
    )
    statuses = [
        enqueue(campaign, purpose="points", sequence=n, context={"points": 5}).status
        for n in (1, 2, 3)
    ]
    assert statuses == ["queued", "queued", "cancelled"]


def test_text_over_the_segment_limit_is_held_with_the_reason(campaign):
    MessageTemplateFactory(
        campaign=campaign, purpose="other", body="{name}", max_segments=1
    )
    message = enqueue(campaign, purpose="other", context={"name": "x" * 200})
    assert message.status == Message.Status.HELD
    assert "Too long: 2 SMS segments" in message.last_error


def test_invalid_number_is_recorded_as_failed(invitation):
    message = enqueue(invitation.campaign, msisdn="12345")
    assert message.status == Message.Status.FAILED
    assert message.last_error == "Not a valid mobile number."


def test_missing_template_is_refused(campaign):
    with pytest.raises(DomainError, match="No SMS template"):
        enqueue(campaign, purpose="reminder")


def test_fixed_schedule_sets_the_due_time(campaign):
    template = MessageTemplateFactory(
        campaign=campaign, purpose="points", body="Quy khach co {points} diem"
    )
    at = timezone.now() + timedelta(days=3)
    Schedule.objects.create(template=template, sequence=2, kind="fixed", send_at=at)
    message = enqueue(campaign, purpose="points", sequence=2, context={"points": 1})
    assert message.due_at == at


def test_schedule_after_an_event_counts_from_the_event(campaign):
    template = MessageTemplateFactory(
        campaign=campaign,
        purpose="delivery_success",
        body="Da gui thanh cong {gift}",
    )
    Schedule.objects.create(
        template=template, kind="after_event", delay=timedelta(days=7), event="upload"
    )
    uploaded = timezone.now() - timedelta(days=1)
    message = enqueue(
        campaign, purpose="delivery_success", context={"gift": "Noi"}, event_at=uploaded
    )
    assert message.due_at == uploaded + timedelta(days=7)


def test_due_time_outside_the_send_window_moves_to_the_next_opening(db):
    campaign = CampaignFactory()
    MessageTemplateFactory(campaign=campaign)
    MessagingSettings.objects.create(campaign=campaign)  # 07:00-22:00
    late = timezone.localtime().replace(hour=22, minute=30, second=0, microsecond=0)
    message = enqueue(campaign, due_at=late)
    due = timezone.localtime(message.due_at)
    assert (due.date(), due.hour, due.minute) == (
        (late + timedelta(days=1)).date(),
        7,
        0,
    )


def test_bulk_enqueue_writes_new_rows_and_skips_existing(invitation):
    campaign = invitation.campaign
    enqueue(campaign, msisdn="0901000001")
    services.do_not_contact_add(msisdn="0901000002", source="staff")
    rows = (
        {"msisdn": f"090100{n:04d}", "password": f"{n:06d}", "deadline": "13/11"}
        for n in range(1, 51)
    )
    result = services.messages_enqueue_bulk(
        campaign=campaign, purpose="invitation", recipients=rows, chunk_size=7
    )
    assert (result.rows, result.written, result.already_there) == (50, 49, 1)
    # The invitation is a service message: do-not-contact does not stop it.
    assert result.cancelled == 0
    assert Message.objects.filter(campaign=campaign).count() == 50
    message = Message.objects.get(msisdn="84901000007")
    assert "mat khau ******" in message.body
    assert "mat khau 000007" in message.full_text()


def test_bulk_enqueue_applies_do_not_contact_and_bad_numbers(campaign):
    MessageTemplateFactory(
        campaign=campaign, purpose="points", body="Quy khach co {points} diem"
    )
    services.do_not_contact_add(msisdn="0901000002", source="staff")
    rows = [
        {"msisdn": "0901000001", "points": 10},
        {"msisdn": "0901000002", "points": 20},
        {"msisdn": "abc", "points": 30},
    ]
    result = services.messages_enqueue_bulk(
        campaign=campaign, purpose="points", recipients=rows
    )
    assert (result.written, result.cancelled, result.invalid) == (3, 1, 1)


ROW_FIELDS = ("body", "encoding", "segments", "status", "last_error", "sensitive")


def _row(message):
    return (*(getattr(message, name) for name in ROW_FIELDS), message.full_text())


@pytest.mark.parametrize(
    ("body", "strip", "max_segments", "context"),
    [
        # Vietnamese kept: UCS-2, two segments, a password sealed.
        (
            "Quý khách dùng mật khẩu {password} trước {deadline} tại "
            "cskh.mobifone.vn để chọn quà tặng trị giá 500.000 đồng nhé." * 2,
            False,
            3,
            {"password": "123456", "deadline": "23:59 13/11/2022"},
        ),
        # Marks stripped; the values themselves carry marks, a tab and a newline.
        (
            "Quý khách {name}\tđiểm: {points}\nHạn {date}",
            True,
            3,
            {"name": "Nguyễn\tVăn\\Đức", "points": 1250, "date": "28/10/2022"},
        ),
        # GSM-7 with an extension character (two septets each) and a backslash.
        (
            "Diem {points} [uu dai] \\ {link} ~ het han {date}",
            False,
            1,
            {"points": 5, "link": "https://mbf.vn/a?b={c}", "date": "28/10/2022"},
        ),
        # A value outside the basic plane turns GSM-7 text into UCS-2.
        (
            "Chuc mung {name}! Mat khau {password}",
            False,
            1,
            {"name": "An 🎁", "password": "654321"},
        ),
        # Too long for its limit: held, saying why.
        ("Mat khau {password}. " + "x" * 170, False, 1, {"password": "111111"}),
    ],
)
def test_bulk_and_single_enqueue_write_the_same_message(
    campaign, body, strip, max_segments, context
):
    template = MessageTemplateFactory(
        campaign=campaign,
        purpose="points",
        body=body,
        strip_diacritics=strip,
        max_segments=max_segments,
        exempt_from_do_not_contact=True,
    )
    single = services.message_enqueue(
        campaign=campaign,
        msisdn="0901000001",
        purpose="points",
        context=context,
        template=template,
    )
    result = services.messages_enqueue_bulk(
        campaign=campaign,
        purpose="points",
        recipients=[{"msisdn": "0901000002", **context}],
    )
    assert result.written == 1
    bulk = Message.objects.get(msisdn="84901000002")
    assert _row(bulk) == _row(single)
    assert bulk.template_id == template.pk
    assert bulk.sealed_body != single.sealed_body or not bulk.sensitive


def test_bulk_enqueue_names_a_missing_value_and_writes_nothing(invitation):
    rows = [
        {"msisdn": "0901000001", "password": "111111", "deadline": "13/11"},
        {"msisdn": "0901000002", "password": "", "deadline": "13/11"},
    ]
    with pytest.raises(DomainError, match="password"):
        services.messages_enqueue_bulk(
            campaign=invitation.campaign, purpose="invitation", recipients=rows
        )
    assert not Message.objects.exists()


def test_bulk_enqueue_run_again_writes_nothing_new(invitation):
    rows = [
        {"msisdn": f"090100{n:04d}", "password": f"{n:06d}", "deadline": "13/11"}
        for n in range(30)
    ]
    kwargs = {"campaign": invitation.campaign, "purpose": "invitation"}
    first = services.messages_enqueue_bulk(recipients=rows, chunk_size=8, **kwargs)
    bodies = dict(Message.objects.values_list("msisdn", "sealed_body"))
    again = services.messages_enqueue_bulk(recipients=rows, chunk_size=8, **kwargs)
    assert (first.written, first.already_there) == (30, 0)
    assert (again.written, again.already_there) == (0, 30)
    # The rows already there are untouched: same sealed text, same password.
    assert dict(Message.objects.values_list("msisdn", "sealed_body")) == bodies


@pytest.mark.django_db(transaction=True)
def test_parallel_bulk_enqueues_of_the_same_customers_write_each_once(invitation):
    # Two transactions enqueue overlapping customers at once: each COPY meets the
    # other's keys, waits for it, then falls back to skipping them. Every customer
    # gets exactly one message and the counts add up.
    from django.db import connections

    numbers = [f"090100{n:04d}" for n in range(400)]
    halves = [numbers[:300], numbers[100:]]
    results, errors = [], []
    barrier = threading.Barrier(2)

    def enqueue_half(half):
        try:
            barrier.wait()
            results.append(
                services.messages_enqueue_bulk(
                    campaign=invitation.campaign,
                    purpose="invitation",
                    recipients=(
                        {"msisdn": n, "password": "123456", "deadline": "13/11"}
                        for n in half
                    ),
                    chunk_size=50,
                )
            )
        except Exception as exc:  # reported below, with the thread's traceback
            errors.append(exc)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=enqueue_half, args=(h,)) for h in halves]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert Message.objects.count() == 400
    assert sum(r.written for r in results) == 400
    assert sum(r.already_there for r in results) == 200


def test_deleting_a_template_keeps_its_messages(invitation):
    message = enqueue(invitation.campaign)
    invitation.delete()
    message.refresh_from_db()
    assert message.template_id is None
    assert message.status == Message.Status.QUEUED


def test_a_campaign_with_messages_cannot_be_deleted(invitation):
    from django.db.models import ProtectedError

    enqueue(invitation.campaign)
    with pytest.raises(ProtectedError):
        invitation.campaign.delete()


def dispatch(limiter, **kwargs):
    return services.dispatch_run(limiter=limiter, batch_size=10, **kwargs)


@pytest.mark.django_db(transaction=True)
def test_dispatch_sends_due_messages_once(invitation, limiter):
    for n in range(25):
        enqueue(invitation.campaign, msisdn=f"09010000{n:02d}")
    result = dispatch(limiter)
    assert result.submitted == 25
    assert len(locmem.outbox) == 25
    assert "mat khau 123456" in locmem.outbox[0].text
    assert dispatch(limiter).submitted == 0
    assert len(locmem.outbox) == 25
    assert set(Message.objects.values_list("status", flat=True)) == {"submitted"}


@pytest.mark.django_db(transaction=True)
def test_a_wide_pool_under_a_low_cap_still_sends(invitation, settings):
    # A pool of 16 under a cap of 20 msg/s (a burst of 2): tokens are asked for no
    # more than the burst at a time, or the limiter would never grant them.
    from messaging.limiter import gateway_limiter

    class WideLocmem(locmem.LocmemBackend):
        concurrency = 16

    slow = gateway_limiter(rate=20, key=f"{settings.MESSAGING_RATE_KEY}:slow")
    slow.reset()
    assert slow.most_at_once == 2
    for n in range(10):
        enqueue(invitation.campaign, msisdn=f"09010000{n:02d}")
    result = services.dispatch_run(
        limiter=slow, backend=WideLocmem(), batch_size=10, max_seconds=30
    )
    assert result.submitted == 10
    assert len(locmem.outbox) == 10


@pytest.mark.django_db(transaction=True)
def test_zalo_messages_wait_for_agents_and_never_go_out_as_sms(campaign, limiter):
    MessageTemplateFactory(
        campaign=campaign, purpose="other", channel="zalo", body="Chao {name}"
    )
    message = enqueue(campaign, purpose="other", channel="zalo", context={"name": "An"})
    assert message.status == "held"
    # Even put back in the queue by hand, the SMS gateway is not its way out.
    Message.objects.filter(pk=message.pk).update(status="queued")

    assert dispatch(limiter).submitted == 0
    assert locmem.outbox == []
    assert Message.objects.get(pk=message.pk).status == "queued"


@pytest.mark.django_db(transaction=True)
def test_temporary_error_is_retried_later_with_back_off(invitation, limiter):
    message = enqueue(invitation.campaign)
    locmem.script("84901234567", SendResult.temporary("throttled"))
    dispatch(limiter)
    message.refresh_from_db()
    assert (message.status, message.attempts, message.last_error) == (
        "queued",
        1,
        "throttled",
    )
    assert message.due_at > timezone.now() + timedelta(seconds=30)
    Message.objects.filter(pk=message.pk).update(due_at=timezone.now())
    dispatch(limiter)
    message.refresh_from_db()
    assert (message.status, message.attempts) == ("submitted", 2)


@pytest.mark.django_db(transaction=True)
def test_permanent_failure_keeps_the_gateway_reason(invitation, limiter):
    message = enqueue(invitation.campaign)
    locmem.script("84901234567", SendResult.permanent("Invalid destination"))
    dispatch(limiter)
    message.refresh_from_db()
    assert (message.status, message.last_error) == ("failed", "Invalid destination")


@pytest.mark.django_db(transaction=True)
def test_submit_timeout_is_unknown_and_never_resent(invitation, limiter):
    message = enqueue(invitation.campaign)
    locmem.script("84901234567", SendResult.timeout("no answer"))
    dispatch(limiter)
    dispatch(limiter)
    message.refresh_from_db()
    assert message.status == "unknown"
    assert locmem.outbox == []
    services.delivery_report_record(reference=str(message.pk), outcome="delivered")
    message.refresh_from_db()
    assert message.status == "delivered"


@pytest.mark.django_db(transaction=True)
def test_gateway_down_puts_the_batch_back(invitation, limiter):
    for n in range(5):
        enqueue(invitation.campaign, msisdn=f"09010000{n:02d}")
    locmem.script("84901000000", SendResult.temporary("refused", gateway_down=True))
    result = dispatch(limiter, max_seconds=0.5)
    assert result.retried == 1
    assert Message.objects.filter(status="queued", attempts=0).count() == 4
    assert locmem.outbox == []


@pytest.mark.django_db(transaction=True)
def test_kill_switch_stops_a_campaign_at_once(invitation, limiter):
    enqueue(invitation.campaign)
    services.campaign_sending_pause(campaign=invitation.campaign)
    assert dispatch(limiter).submitted == 0
    assert Message.objects.get().status == "queued"
    services.campaign_sending_resume(campaign=invitation.campaign)
    assert dispatch(limiter).submitted == 1


@pytest.mark.django_db(transaction=True)
def test_long_message_is_delivered_when_every_part_reported(campaign, limiter):
    MessageTemplateFactory(campaign=campaign, purpose="other", body="{name}")
    message = enqueue(campaign, purpose="other", context={"name": "y" * 300})
    assert message.segments == 2
    dispatch(limiter)
    services.delivery_report_record(
        reference=str(message.pk), outcome="delivered", part="p1"
    )
    services.delivery_report_record(
        reference=str(message.pk), outcome="delivered", part="p1"
    )
    message.refresh_from_db()
    assert message.status == "submitted"
    services.delivery_report_record(
        reference=str(message.pk), outcome="delivered", part="p2"
    )
    message.refresh_from_db()
    assert message.status == "delivered"
    assert DeliveryReport.objects.filter(message=message).count() == 2


@pytest.mark.django_db(transaction=True)
def test_parts_reporting_at_the_same_moment_still_deliver_the_message(
    campaign, limiter
):
    MessageTemplateFactory(campaign=campaign, purpose="other", body="{name}")
    messages = [
        enqueue(
            campaign,
            msisdn=f"090123{n:04d}",
            purpose="other",
            context={"name": "y" * 400},
        )
        for n in range(10)
    ]
    assert {m.segments for m in messages} == {3}
    dispatch(limiter)
    # Every part of every message reports at once, from its own connection.
    barrier = threading.Barrier(3)

    def report(part):
        barrier.wait()
        try:
            for message in messages:
                services.delivery_report_record(
                    reference=str(message.pk), outcome="delivered", part=part
                )
        finally:
            connection.close()

    threads = [threading.Thread(target=report, args=(p,)) for p in "abc"]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    statuses = set(
        Message.objects.filter(pk__in=[m.pk for m in messages]).values_list(
            "status", flat=True
        )
    )
    assert statuses == {"delivered"}
    assert DeliveryReport.objects.count() == 30


@pytest.mark.django_db(transaction=True)
def test_a_failed_part_fails_the_message_with_its_reason(campaign, limiter):
    MessageTemplateFactory(campaign=campaign, purpose="other", body="{name}")
    message = enqueue(campaign, purpose="other", context={"name": "y" * 300})
    dispatch(limiter)
    services.delivery_report_record(
        reference=str(message.pk), outcome="delivered", part="p1"
    )
    services.delivery_report_record(
        reference=str(message.pk), outcome="failed", part="p2", reason="Absent"
    )
    message.refresh_from_db()
    assert (message.status, message.last_error) == ("failed", "Absent")


def test_delivery_report_for_an_unknown_message_is_kept(db):
    report = services.delivery_report_record(reference="999999", outcome="delivered")
    assert report.message is None
    # A reference too long to be one of our ids is kept the same way, not an error.
    services.delivery_report_record(reference="9" * 25, outcome="delivered")
    assert DeliveryReport.objects.filter(message=None).count() == 2


@pytest.mark.django_db(transaction=True)
def test_delivered_password_message_loses_its_sealed_text(invitation, limiter):
    message = enqueue(invitation.campaign)
    dispatch(limiter)
    services.delivery_report_record(reference=str(message.pk), outcome="delivered")
    message.refresh_from_db()
    assert message.sealed_body is None
    with pytest.raises(DomainError, match="erased"):
        message.full_text()


def test_staff_settle_and_retry(invitation, care_staff):
    message = enqueue(invitation.campaign)
    Message.objects.filter(pk=message.pk).update(status="unknown")
    settled = services.message_settle(
        message=message, delivered=False, actor=care_staff
    )
    assert settled.status == "failed"
    retried = services.message_retry(message=settled, actor=care_staff)
    assert retried.status == "queued"
    assert list(retried.events.values_list("kind", flat=True)) == [
        "retried",
        "settled",
    ]


@pytest.mark.django_db(transaction=True)
def test_parallel_workers_never_claim_the_same_message(invitation):
    campaign = invitation.campaign
    services.messages_enqueue_bulk(
        campaign=campaign,
        purpose="invitation",
        recipients=(
            {"msisdn": f"0902{n:06d}", "password": "1", "deadline": "1/1"}
            for n in range(400)
        ),
    )
    claims: list[list[int]] = []
    barrier = threading.Barrier(4)

    def worker(index):
        barrier.wait()
        try:
            while ids := services.messages_claim(
                worker=f"w{index}", batch_size=7, now=timezone.now()
            ):
                claims.append(ids)
        finally:
            connection.close()

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    claimed = [pk for batch in claims for pk in batch]
    assert len(claimed) == 400
    assert len(set(claimed)) == 400
    assert Message.objects.filter(status="claimed").count() == 400
    assert len(set(Message.objects.values_list("claimed_by", flat=True))) == 4


def test_do_not_contact_import_counts_and_rejects(db, care_staff):
    DoNotContact.objects.create(msisdn="84901000001", source="staff")
    summary = services.do_not_contact_import(
        lines=["msisdn", "0901000001", "+84 90 100 0002", "901000003", "hello"],
        actor=care_staff,
    )
    assert (summary["added"], summary["already_listed"]) == (2, 1)
    assert summary["rejected"] == [(5, "hello")]


def test_window_defaults_are_seven_to_ten(db):
    config = MessagingSettings(campaign=CampaignFactory())
    assert (str(config.window_start), str(config.window_end)) == (
        "07:00:00",
        "22:00:00",
    )
    assert ALL_DAY

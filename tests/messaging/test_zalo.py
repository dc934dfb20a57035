"""Zalo messages: through ZNS when it is configured, on the agents' work list when not.

ZNS is played by a real HTTP server (`zns_server.FakeZns`); the product's own
backend posts to it as it would to Zalo.
"""

from datetime import timedelta

import pytest
from django.utils import timezone

from eligibility.models import DomainError
from messaging import services, tasks
from messaging.backends import locmem
from messaging.models import Message
from tests.messaging.zns_server import closed_port_url

TRANSACTIONAL = pytest.mark.django_db(transaction=True)
CONTEXT = {"name": "Nguyễn Văn An", "points": 1250}


def enqueue_zalo(campaign, msisdn="0901234567", context=CONTEXT):
    return services.message_enqueue(
        campaign=campaign,
        msisdn=msisdn,
        purpose="zalo_record_update",
        channel="zalo",
        context=context,
    )


def zalo_run(limiter, **kwargs):
    return services.dispatch_run(channel="zalo", limiter=limiter, **kwargs)


def make_due(message):
    Message.objects.filter(pk=message.pk).update(due_at=timezone.now())


@TRANSACTIONAL
def test_zalo_message_goes_to_zns_with_its_template_and_values(
    zalo_template, zns, limiter
):
    message = enqueue_zalo(zalo_template.campaign)
    assert message.status == "queued"
    assert message.template_data == {"name": "Nguyễn Văn An", "points": "1.250"}

    result = zalo_run(limiter)

    assert result.submitted == 1
    [request] = zns.received
    assert request.path == "/message/template"
    assert request.headers["access_token"] == "zns-test-token"
    assert request.headers["content-type"] == "application/json"
    assert request.body == {
        "phone": "84901234567",
        "template_id": "250001",
        "template_data": {"name": "Nguyễn Văn An", "points": "1.250"},
        "tracking_id": str(message.pk),
    }
    message.refresh_from_db()
    assert (message.status, message.gateway_message_id, message.last_error) == (
        "submitted",
        "zns-msg-1",
        "",
    )
    # Sent once: the next run finds nothing due.
    assert zalo_run(limiter).submitted == 0
    assert len(zns.received) == 1


@TRANSACTIONAL
def test_bulk_enqueued_zalo_messages_carry_their_values_to_zns(
    zalo_template, zns, limiter
):
    result = services.messages_enqueue_bulk(
        campaign=zalo_template.campaign,
        purpose="zalo_record_update",
        channel="zalo",
        recipients=[
            {"msisdn": "0901000001", "name": "An", "points": 10},
            {"msisdn": "0901000002", "name": "Bình", "points": 2000},
        ],
    )
    assert (result.written, result.held) == (2, 0)

    assert zalo_run(limiter).submitted == 2
    sent = {request.body["phone"]: request.body for request in zns.received}
    assert sent["84901000002"]["template_data"] == {"name": "Bình", "points": "2.000"}
    assert sent["84901000001"]["template_id"] == "250001"
    assert set(Message.objects.values_list("status", flat=True)) == {"submitted"}


@TRANSACTIONAL
@pytest.mark.parametrize(
    ("code", "zalo_says"),
    [
        (-124, "Access token is invalid"),
        (-144, "OA has exceeded the daily quota"),
        (-100, "Unknown error"),
    ],
)
def test_zns_token_quota_and_passing_errors_are_retried_later(
    zalo_template, zns, limiter, code, zalo_says
):
    message = enqueue_zalo(zalo_template.campaign)
    zns.answer_error(code, zalo_says)

    zalo_run(limiter)

    message.refresh_from_db()
    assert (message.status, message.attempts, message.last_error) == (
        "queued",
        1,
        f"Zalo ZNS {code}: {zalo_says}",
    )
    assert message.due_at > timezone.now() + timedelta(seconds=30)
    make_due(message)
    zalo_run(limiter)
    message.refresh_from_db()
    assert (message.status, message.attempts) == ("submitted", 2)
    assert len(zns.received) == 2


@TRANSACTIONAL
@pytest.mark.parametrize(
    ("code", "zalo_says"),
    [
        (-108, "Phone number is invalid"),
        (-118, "Zalo account is not existed"),
        (-999, "A code Zalo added later"),
    ],
)
def test_zns_refusal_fails_the_message_with_zalos_reason(
    zalo_template, zns, limiter, code, zalo_says
):
    message = enqueue_zalo(zalo_template.campaign)
    zns.answer_error(code, zalo_says)

    result = zalo_run(limiter)

    assert result.failed == 1
    message.refresh_from_db()
    assert (message.status, message.last_error) == (
        "failed",
        f"Zalo ZNS {code}: {zalo_says}",
    )
    assert zalo_run(limiter).submitted == 0
    assert len(zns.received) == 1
    # Staff may send it again once the cause is fixed.
    services.message_retry(message=message)
    assert zalo_run(limiter).submitted == 1
    assert len(zns.received) == 2


@TRANSACTIONAL
def test_zns_server_error_puts_the_batch_back(zalo_template, zns, limiter, settings):
    # One send at a time, so that the messages after the failing one are visibly
    # never handed over.
    settings.MESSAGING_ZALO = {**settings.MESSAGING_ZALO, "POOL_SIZE": 1}
    messages = [
        enqueue_zalo(zalo_template.campaign, msisdn=f"090100000{n}") for n in range(3)
    ]
    zns.answer(status=502, body=b"<html>Bad Gateway</html>")

    result = zalo_run(limiter, max_seconds=0.5)

    assert result.submitted == 0
    assert len(zns.received) == 1
    first, *rest = [Message.objects.get(pk=m.pk) for m in messages]
    assert (first.status, first.attempts) == ("queued", 1)
    assert first.last_error.startswith("Zalo ZNS HTTP 502")
    assert first.due_at > timezone.now()
    assert [(m.status, m.attempts) for m in rest] == [("queued", 0), ("queued", 0)]


@TRANSACTIONAL
def test_unreachable_zns_leaves_the_message_queued(
    zalo_template, zns, limiter, settings
):
    settings.MESSAGING_ZALO = {**settings.MESSAGING_ZALO, "ZNS_URL": closed_port_url()}
    message = enqueue_zalo(zalo_template.campaign)

    assert zalo_run(limiter, max_seconds=0.5).submitted == 0

    message.refresh_from_db()
    assert message.status == "queued"
    assert message.last_error.startswith("Zalo ZNS unreachable")


@TRANSACTIONAL
def test_zns_silent_past_the_timeout_is_unknown_and_never_sent_again(
    zalo_template, zns, limiter, settings
):
    settings.MESSAGING_ZALO = {**settings.MESSAGING_ZALO, "TIMEOUT": 0.5}
    message = enqueue_zalo(zalo_template.campaign)
    zns.answer(body={"error": 0, "data": {"msg_id": "late"}}, delay=2.0)

    result = zalo_run(limiter)

    assert result.unknown == 1
    message.refresh_from_db()
    assert message.status == "unknown"
    assert "did not answer within 0.5s" in message.last_error
    make_due(message)
    assert zalo_run(limiter).submitted == 0
    assert len(zns.received) == 1


@TRANSACTIONAL
def test_zns_answer_without_a_result_is_unknown(zalo_template, zns, limiter):
    message = enqueue_zalo(zalo_template.campaign)
    zns.answer(body=b"<html>maintenance</html>")

    assert zalo_run(limiter).unknown == 1
    message.refresh_from_db()
    assert message.status == "unknown"


@TRANSACTIONAL
def test_kill_switch_holds_zalo_messages_too(zalo_template, zns, limiter):
    message = enqueue_zalo(zalo_template.campaign)
    services.campaign_sending_pause(campaign=zalo_template.campaign)

    assert zalo_run(limiter).submitted == 0
    assert zns.received == []
    assert Message.objects.get(pk=message.pk).status == "queued"

    services.campaign_sending_resume(campaign=zalo_template.campaign)
    assert zalo_run(limiter).submitted == 1


@TRANSACTIONAL
def test_sms_run_never_sends_zalo_and_zalo_run_never_sends_sms(
    invitation, zalo_template, zns, limiter
):
    sms = services.message_enqueue(
        campaign=invitation.campaign,
        msisdn="0901234567",
        purpose="invitation",
        context={"password": "123456", "deadline": "23:59 13/11/2022"},
    )
    zalo = enqueue_zalo(zalo_template.campaign)

    assert zalo_run(limiter).submitted == 1
    assert zns.tracking_ids() == [str(zalo.pk)]
    assert locmem.outbox == []
    assert Message.objects.get(pk=sms.pk).status == "queued"

    # The SMS run, through the SMS gateway backend (locmem in the tests).
    assert services.dispatch_run(limiter=limiter).submitted == 1
    assert [m.id for m in locmem.outbox] == [sms.pk]
    assert zns.tracking_ids() == [str(zalo.pk)]


@TRANSACTIONAL
def test_beat_sweeps_zalo_through_zns(zalo_template, zns, settings):
    zalo_entries = [
        entry
        for entry in settings.CELERY_BEAT_SCHEDULE.values()
        if entry["task"] == "messaging.dispatch_due"
        and tuple(entry.get("args", ())) == ("zalo",)
    ]
    assert len(zalo_entries) == 1
    message = enqueue_zalo(zalo_template.campaign)

    # The task's own body, called in this process (no broker, no eager mode).
    assert tasks.dispatch_due("zalo")["submitted"] == 1
    assert tasks.dispatch_due("sms")["submitted"] == 0
    assert zns.tracking_ids() == [str(message.pk)]


@TRANSACTIONAL
def test_without_an_access_token_zalo_waits_on_the_work_list(zalo_template, limiter):
    message = enqueue_zalo(zalo_template.campaign)

    assert message.status == "held"
    assert message.last_error == "Zalo work list: an agent sends this by hand."
    # Kept for ZNS, should it be configured later.
    assert message.template_data == {"name": "Nguyễn Văn An", "points": "1.250"}
    assert tasks.dispatch_due("zalo")["submitted"] == 0
    with pytest.raises(DomainError, match="an agent sends it by hand"):
        services.message_retry(message=message)
    assert Message.objects.get(pk=message.pk).status == "held"


@TRANSACTIONAL
def test_zalo_template_without_a_zns_id_waits_on_the_work_list(
    zalo_template, zns, limiter
):
    zalo_template.zalo_template_id = ""
    zalo_template.save()

    message = enqueue_zalo(zalo_template.campaign)

    assert message.status == "held"
    assert zalo_run(limiter).submitted == 0
    assert zns.received == []

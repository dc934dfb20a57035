"""The Kannel path against a real Kannel: invitations out, reports and MO back."""

from collections import Counter

import pytest

from messaging import services
from messaging.backends.kannel import KannelBackend
from messaging.models import (
    DoNotContact,
    InboundMessage,
    LoyaltySignup,
    Message,
    MessageTemplate,
)
from tests.messaging.factories import MessageTemplateFactory
from tests.messaging.waiting import wait_until

pytestmark = pytest.mark.django_db(transaction=True)


def test_invitation_batch_goes_through_kannel_and_reports_come_back(
    invitation, kannel, kannel_settings, limiter
):
    numbers = [f"0903{n:06d}" for n in range(30)]
    services.messages_enqueue_bulk(
        campaign=invitation.campaign,
        purpose="invitation",
        recipients=(
            {"msisdn": number, "password": f"{n:06d}", "deadline": "23:59 13/11/2022"}
            for n, number in enumerate(numbers)
        ),
    )
    before = Counter(kannel.arrived_numbers())
    result = services.dispatch_run(backend=KannelBackend(), limiter=limiter)
    assert result.submitted == 30

    wait_until(
        lambda: Message.objects.filter(status="delivered").count() == 30,
        what="30 delivery reports",
    )
    expected = {"84" + number[1:] for number in numbers}
    arrived = wait_until(
        lambda: (
            Counter(kannel.arrived_numbers()) - before
            if set(Counter(kannel.arrived_numbers()) - before) >= expected
            else None
        ),
        what="30 invitations at the SMSC",
    )
    # Each invitation is two SMS parts (GSM-7, about 250 characters).
    assert {number: arrived[number] for number in expected} == dict.fromkeys(
        expected, 2
    )
    texts = [
        kannel.decode(line)
        for line in kannel.arrivals()
        if line.split(" ")[1] == "84903000007"
    ]
    assert "mat khau 000007" in "".join(texts)
    message = Message.objects.get(msisdn="84903000007")
    assert message.sealed_body is None
    assert message.delivery_reports.get().outcome == "delivered"


def test_mo_keywords_reach_the_portal_and_replies_go_out(
    campaign, kannel, kannel_settings, limiter
):
    kannel.inject_mo(sender="0904000001", receiver="9237", text="DK")
    wait_until(lambda: LoyaltySignup.objects.exists(), what="DK")
    kannel.inject_mo(sender="0904000001", receiver="9237", text="XN")
    kannel.inject_mo(sender="0904000002", receiver="9090", text="TC")
    kannel.inject_mo(sender="0904000003", receiver="9237", text="Xin chao")
    kannel.inject_mo(sender="0904000004", receiver="9231", text="TSTN")
    wait_until(lambda: InboundMessage.objects.count() == 5, what="5 inbound SMS")

    signup = LoyaltySignup.objects.get(msisdn="84904000001")
    assert signup.confirmed_at is not None
    assert DoNotContact.objects.filter(msisdn="84904000002", source="opt_out").exists()
    outcomes = dict(InboundMessage.objects.values_list("msisdn", "outcome"))
    assert outcomes == {
        "84904000001": "handled",
        "84904000002": "handled",
        "84904000003": "unknown",
        # TSTN goes to servicerequests' handler; with no SIM-swap campaign open it
        # answers that requests are closed.
        "84904000004": "handled",
    }
    assert "chua trien khai" in Message.objects.get(msisdn="84904000004").body
    help_reply = Message.objects.get(msisdn="84904000003")
    assert help_reply.purpose == "help_reply"
    assert "Cu phap chua dung" in help_reply.body

    # The replies leave through the same outbox and gateway.
    services.dispatch_run(backend=KannelBackend(), limiter=limiter)
    wait_until(
        lambda: (
            {"84904000001", "84904000002", "84904000003", "84904000004"}
            <= set(kannel.arrived_numbers())
        ),
        what="the replies at the SMSC",
    )
    assert Message.objects.filter(msisdn="84904000001").count() == 2


def test_gateway_answering_an_error_fails_the_message_with_its_reason(
    campaign, kannel, kannel_settings, limiter, settings
):
    MessageTemplateFactory(campaign=campaign, purpose="points", body="Co {points} diem")
    message = services.message_enqueue(
        campaign=campaign, msisdn="0905000001", purpose="points", context={"points": 3}
    )
    # Kannel refuses a sendsms without a receiver-compatible text encoding... here,
    # simply with a wrong password: every message would fare the same, so the
    # batch waits instead of failing one by one.
    backend = KannelBackend(PASSWORD="wrong")
    result = services.dispatch_run(backend=backend, limiter=limiter, max_seconds=1)
    message.refresh_from_db()
    assert message.status == "queued"
    assert "Kannel 403" in message.last_error
    assert result.submitted == 0
    assert MessageTemplate.objects.count() == 1

"""The SMPP backend against a real SMPP peer: node-smpp's server as the SMSC.

The peer answers submits with message ids, sends delivery receipts to the bound
receiver and injects MO, all over SMPP 3.4 on a real socket.
"""

import threading

import pytest
from django.db import connection

from messaging import services
from messaging.backends.smpp import SmppBackend
from messaging.models import InboundMessage, Message
from tests.messaging.factories import MessageTemplateFactory
from tests.messaging.smpp_peer import SmppPeer
from tests.messaging.waiting import wait_until

CONTEXT = {"password": "123456", "deadline": "23:59 13/11/2022"}


@pytest.fixture
def peer():
    peer = SmppPeer().start()
    yield peer
    peer.stop()


@pytest.fixture
def smpp(peer):
    """A sending backend on the peer; closed (unbound) after the test."""
    backends = []

    def make(**overrides):
        backends.append(SmppBackend(**peer.backend_settings(**overrides)))
        return backends[-1]

    yield make
    for backend in backends:
        backend.close()


@pytest.fixture
def listener(peer):
    """`messaging_smpp_listen`'s loop, bound as a receiver, in a thread."""
    stop = threading.Event()
    backend = SmppBackend(**peer.backend_settings())

    def listen():
        try:
            backend.listen(should_stop=stop.is_set)
        finally:
            backend.close()
            connection.close()

    thread = threading.Thread(target=listen)
    thread.start()
    wait_until(lambda: peer.seen("bound"), what="the receiver to bind")
    yield backend
    stop.set()
    thread.join(timeout=10)


def enqueue(campaign, msisdn, **kwargs):
    return services.message_enqueue(
        campaign=campaign,
        msisdn=msisdn,
        purpose=kwargs.pop("purpose", "invitation"),
        context=kwargs.pop("context", CONTEXT),
        **kwargs,
    )


@pytest.mark.django_db(transaction=True)
def test_invitations_go_out_over_smpp_and_receipts_settle_them(
    invitation, limiter, peer, listener, smpp
):
    messages = [enqueue(invitation.campaign, f"090123456{n}") for n in range(3)]

    result = services.dispatch_run(backend=smpp(), limiter=limiter)

    assert result.submitted == 3
    parts: dict[str, list[dict]] = {}
    for submit in peer.seen("submit"):
        parts.setdefault(submit["destination"], []).append(submit)
    assert set(parts) == {m.msisdn for m in messages}
    # The invitation is long: each part went as its own submit_sm, with its own id,
    # and every part's receipt is needed before the message counts as delivered.
    assert {len(p) for p in parts.values()} == {messages[0].segments}
    assert messages[0].segments > 1
    assert "mat khau 123456" in "".join(p["text"] for p in parts[messages[0].msisdn])
    wait_until(
        lambda: Message.objects.filter(status="delivered").count() == 3,
        what="the receipts of every part to settle the messages",
    )
    for message in messages:
        message.refresh_from_db()
        assert message.gateway_message_id == parts[message.msisdn][0]["message_id"]
        assert sorted(r.part for r in message.delivery_reports.all()) == sorted(
            p["message_id"] for p in parts[message.msisdn]
        )


@pytest.mark.django_db(transaction=True)
def test_vietnamese_text_goes_as_ucs2_and_arrives_intact(
    campaign, limiter, peer, listener, smpp
):
    MessageTemplateFactory(
        campaign=campaign,
        purpose="other",
        body="Quý khách {name} đã đổi quà thành công",
        strip_diacritics=False,
    )
    enqueue(campaign, "0901234567", purpose="other", context={"name": "Trần Thị Bình"})

    services.dispatch_run(backend=smpp(), limiter=limiter)

    (submit,) = peer.seen("submit")
    assert submit["data_coding"] == 8
    assert submit["text"] == "Quý khách Trần Thị Bình đã đổi quà thành công"


@pytest.mark.django_db(transaction=True)
def test_smsc_refusals_throttling_and_failed_receipts(
    invitation, limiter, peer, listener, smpp
):
    throttled = enqueue(invitation.campaign, "0999000001")
    refused = enqueue(invitation.campaign, "0999100001")
    undelivered = enqueue(invitation.campaign, "0999200001")

    services.dispatch_run(backend=smpp(), limiter=limiter)

    throttled.refresh_from_db()
    refused.refresh_from_db()
    assert throttled.status == "queued" and "throttl" in throttled.last_error.lower()
    assert refused.status == "failed" and "0x0000000b" in refused.last_error
    wait_until(
        lambda: Message.objects.get(pk=undelivered.pk).status == "failed",
        what="the UNDELIV receipt to fail the message",
    )


@pytest.mark.django_db(transaction=True)
def test_a_refused_bind_keeps_the_messages_queued(invitation, limiter, peer, smpp):
    message = enqueue(invitation.campaign, "0901234567")

    result = services.dispatch_run(
        backend=smpp(PASSWORD="wrong"),
        limiter=limiter,
    )

    assert result.submitted == 0 and result.errors
    message.refresh_from_db()
    assert message.status == "queued"
    assert peer.seen("bind_refused")
    assert not peer.seen("submit")


@pytest.mark.django_db(transaction=True)
def test_mo_over_smpp_reaches_the_keyword_handlers(campaign, peer, listener):
    peer.inject_mo(sender="84901234567", receiver="9231", text="TSTN")

    inbound = wait_until(
        lambda: InboundMessage.objects.filter(msisdn="84901234567").first(),
        what="the MO to be recorded",
    )
    assert (inbound.short_code, inbound.keyword) == ("9231", "TSTN")
    # The keyword's answer goes out through the outbox, like every message.
    assert Message.objects.filter(msisdn="84901234567").exists()


@pytest.mark.django_db(transaction=True)
def test_a_dispatch_run_unbinds_the_connection_it_opened(
    invitation, limiter, peer, listener, settings
):
    # The beat sweep runs every few seconds: each run must not leave a bind behind.
    settings.MESSAGING_BACKEND = "messaging.backends.smpp.SmppBackend"
    settings.MESSAGING_SMPP = peer.backend_settings()
    enqueue(invitation.campaign, "0901234567")

    assert services.dispatch_run(limiter=limiter).submitted == 1
    assert len(peer.seen("bound")) == 2  # the listener, then this run
    wait_until(lambda: peer.seen("unbound"), what="the run to unbind")

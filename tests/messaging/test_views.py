import pytest
from django.urls import reverse

from messaging import services
from messaging.models import DeliveryReport, InboundMessage, Message

TOKEN = "test-gateway-token"


def mo(client, **params):
    return client.get(
        reverse("messaging:kannel_mo"), {"token": TOKEN, "to": "9237", **params}
    )


def test_duplicate_mo_is_stored_and_handled_once(db, client):
    assert (
        mo(client, id="abc-1", **{"from": "0901234567"}, text="DK").status_code == 200
    )
    assert (
        mo(client, id="abc-1", **{"from": "0901234567"}, text="DK").status_code == 200
    )
    assert InboundMessage.objects.count() == 1
    assert Message.objects.filter(msisdn="84901234567").count() == 1


def test_opt_out_keyword_with_marks_is_understood(db, client):
    mo(client, id="x1", **{"from": "0901234567"}, text="Hủy")
    inbound = InboundMessage.objects.get()
    assert (inbound.keyword, inbound.outcome) == ("HUY", "handled")


def test_loyalty_keyword_to_the_wrong_short_code_gets_help(db, client):
    client.get(
        reverse("messaging:kannel_mo"),
        {"token": TOKEN, "id": "y1", "from": "0901234567", "to": "9231", "text": "DK"},
    )
    assert InboundMessage.objects.get().outcome == "unknown"
    assert Message.objects.get().purpose == "help_reply"


def test_gateway_endpoints_refuse_a_wrong_token(db, client):
    response = client.get(
        reverse("messaging:kannel_dlr"), {"token": "nope", "ref": "1", "type": "1"}
    )
    assert response.status_code == 403
    assert not DeliveryReport.objects.exists()


def test_dlr_endpoint_settles_the_message(invitation, client):
    message = services.message_enqueue(
        campaign=invitation.campaign,
        msisdn="0901234567",
        purpose="invitation",
        context={"password": "1", "deadline": "1/1"},
    )
    Message.objects.filter(pk=message.pk).update(status="submitted")
    response = client.get(
        reverse("messaging:kannel_dlr"),
        {"token": TOKEN, "ref": message.pk, "type": "2", "reply": "NACK/0x0000000b"},
    )
    assert response.status_code == 200
    message.refresh_from_db()
    assert (message.status, message.last_error) == ("failed", "NACK/0x0000000b")


@pytest.mark.parametrize("kind", ["8", "4"])
def test_intermediate_reports_do_not_settle(invitation, client, kind):
    message = services.message_enqueue(
        campaign=invitation.campaign,
        msisdn="0901234567",
        purpose="invitation",
        context={"password": "1", "deadline": "1/1"},
    )
    Message.objects.filter(pk=message.pk).update(status="submitted")
    client.get(
        reverse("messaging:kannel_dlr"),
        {"token": TOKEN, "ref": message.pk, "type": kind},
    )
    message.refresh_from_db()
    assert message.status == "submitted"

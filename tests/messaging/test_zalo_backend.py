"""The ZNS backend on its own, against a real HTTP server playing Zalo."""

from messaging.backends import OutgoingMessage, SendResult
from messaging.backends.zalo import ZaloZnsBackend
from tests.messaging.zns_server import FakeZns


def zalo_message(**fields):
    return OutgoingMessage(
        **{
            "id": 41,
            "msisdn": "84901234567",
            "sender": "MobiFone Miền Tây",
            "text": "Chào An",
            "encoding": "ucs2",
            "segments": 1,
            "channel": "zalo",
            "template_id": "250001",
            "template_data": {"name": "An"},
            **fields,
        }
    )


def test_backend_posts_the_zns_request_and_reads_msg_id():
    zns = FakeZns().start()
    try:
        backend = ZaloZnsBackend(ZNS_URL=zns.url, ACCESS_TOKEN="secret-token")
        result = backend.send(zalo_message())
        backend.close()
    finally:
        zns.stop()
    assert result == SendResult.accepted("zns-msg-1")
    [request] = zns.received
    assert request.headers["access_token"] == "secret-token"
    assert request.body == {
        "phone": "84901234567",
        "template_id": "250001",
        "template_data": {"name": "An"},
        "tracking_id": "41",
    }


def test_backend_refuses_an_sms_or_a_message_without_zns_template():
    backend = ZaloZnsBackend(ZNS_URL="http://127.0.0.1:9/", ACCESS_TOKEN="t")
    for message in (zalo_message(channel="sms"), zalo_message(template_id="")):
        assert backend.send(message).status == SendResult.PERMANENT

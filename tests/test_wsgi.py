"""The application gunicorn serves: gateway callbacks on their lean stack, pages on theirs.

Requests go through `config.wsgi.application` itself with the environ a WSGI server
builds, and each answer is closed as gunicorn closes it, so the request_started and
request_finished signals recycle the database connection as in production (hence
`transactional_db`: a test transaction would be closed by them).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from io import BytesIO
from urllib.parse import urlencode
from wsgiref.util import setup_testing_defaults

import psycopg
import pytest
from django.conf import settings
from django.core.handlers.wsgi import WSGIHandler
from django.db import connection
from django.utils import translation

from config.wsgi import GatewayCallbackHandler, application
from messaging import keywords, services
from messaging.models import DeliveryReport, DoNotContact, InboundMessage, Message
from tests.campaigns.factories import CampaignFactory
from tests.factories import UserFactory
from tests.messaging.conftest import ALL_DAY
from tests.messaging.factories import MessageTemplateFactory, MessagingSettingsFactory

DLR = "/messaging/gateway/kannel/dlr/"
MO = "/messaging/gateway/kannel/mo/"


@dataclass
class Answer:
    status_code: int
    headers: list[tuple[str, str]]
    content: bytes

    def header(self, name: str) -> str | None:
        return next((v for k, v in self.headers if k.lower() == name.lower()), None)

    @property
    def cookies(self) -> dict[str, str]:
        values = [v for k, v in self.headers if k.lower() == "set-cookie"]
        return dict(value.split(";")[0].split("=", 1) for value in values)


def serve(
    path: str,
    params: dict | None = None,
    *,
    wsgi=application,
    method: str = "GET",
    form: dict | None = None,
    cookies: dict | None = None,
    host: str = "127.0.0.1",
) -> Answer:
    """One request through `wsgi`, read and closed the way gunicorn does."""
    body = urlencode(form or {}).encode()
    environ = {
        "REQUEST_METHOD": method,
        "PATH_INFO": path,
        "QUERY_STRING": urlencode(params or {}),
        "HTTP_HOST": host,
        "wsgi.input": BytesIO(body),
    }
    if form is not None:
        environ["CONTENT_TYPE"] = "application/x-www-form-urlencoded"
        environ["CONTENT_LENGTH"] = str(len(body))
    if cookies:
        environ["HTTP_COOKIE"] = "; ".join(f"{k}={v}" for k, v in cookies.items())
    setup_testing_defaults(environ)
    started = {}

    def start_response(status, headers, exc_info=None):
        started.update(status=status, headers=headers)

    chunks = wsgi(environ, start_response)
    try:
        content = b"".join(chunks)
    finally:
        chunks.close()
    return Answer(int(started["status"].split()[0]), started["headers"], content)


def gateway(path: str, **params) -> Answer:
    return serve(path, {"token": settings.MESSAGING_GATEWAY_TOKEN, **params})


@pytest.fixture
def submitted_message(transactional_db):
    campaign = CampaignFactory()
    MessagingSettingsFactory(campaign=campaign, **ALL_DAY)
    MessageTemplateFactory(campaign=campaign, exempt_from_do_not_contact=True)
    message = services.message_enqueue(
        campaign=campaign,
        msisdn="0901234567",
        purpose="invitation",
        context={"password": "123456", "deadline": "1/1"},
    )
    Message.objects.filter(pk=message.pk).update(status="submitted")
    return message


def test_delivery_report_through_the_served_application_settles_the_message(
    submitted_message,
):
    answer = gateway(DLR, ref=submitted_message.pk, type="1", reply="ACK/")
    assert (answer.status_code, answer.content) == (200, b"OK")
    submitted_message.refresh_from_db()
    assert submitted_message.status == "delivered"
    assert DeliveryReport.objects.get().message_id == submitted_message.pk


@pytest.mark.parametrize("path", [DLR, MO])
def test_gateway_callback_with_a_wrong_token_is_refused(submitted_message, path):
    answer = serve(
        path,
        {"token": "guessed", "ref": submitted_message.pk, "type": "1"}
        | {"id": "k-1", "from": "0901234567", "to": "9237", "text": "HUY"},
    )
    assert (answer.status_code, answer.content) == (403, b"bad token")
    assert not DeliveryReport.objects.exists()
    assert not InboundMessage.objects.exists()
    submitted_message.refresh_from_db()
    assert submitted_message.status == "submitted"


@pytest.mark.parametrize(
    ("path", "params", "complaint"),
    [
        (DLR, {"type": "1"}, b"ref and type are required"),
        (DLR, {"ref": "1"}, b"ref and type are required"),
        (MO, {"from": "0901234567", "text": "HUY"}, b"id and from are required"),
        (MO, {"id": "k-1", "text": "HUY"}, b"id and from are required"),
    ],
)
def test_gateway_callback_missing_a_field_is_a_bad_request(
    transactional_db, path, params, complaint
):
    answer = gateway(path, **params)
    assert (answer.status_code, answer.content) == (400, complaint)
    assert not DeliveryReport.objects.exists()
    assert not InboundMessage.objects.exists()


def test_inbound_sms_through_the_served_application_reaches_its_keyword_handler(
    transactional_db,
):
    answer = gateway(MO, id="k-1", **{"from": "0901234567"}, to="9237", text="Hủy")
    assert answer.status_code == 200
    inbound = InboundMessage.objects.get()
    assert (inbound.keyword, inbound.outcome) == ("HUY", "handled")
    assert DoNotContact.objects.filter(msisdn="84901234567").exists()


@pytest.fixture
def language_recorder(monkeypatch):
    """A keyword handler that notes the language active while it runs."""
    seen = []
    monkeypatch.setattr(keywords, "_registry", dict(keywords._registry))

    @keywords.register("NGONNGU")
    def record(inbound):
        seen.append(translation.get_language())

    return seen


def test_keyword_handlers_run_in_the_portal_language_whatever_the_thread_served_before(
    transactional_db, language_recorder
):
    # A gunicorn thread keeps the language of the last page it served: here English.
    with translation.override("en"):
        gateway(MO, id="k-2", **{"from": "0901234567"}, to="9237", text="NGONNGU")
    assert language_recorder == [settings.LANGUAGE_CODE]


def test_gateway_callbacks_are_answered_without_the_page_middleware(
    submitted_message,
):
    answer = gateway(DLR, ref=submitted_message.pk, type="1")
    assert answer.status_code == 200
    # What sessions, CSRF, locale and frame options add to every page.
    assert answer.cookies == {}
    assert answer.header("X-Frame-Options") is None
    assert answer.header("Content-Language") is None
    assert answer.header("Vary") is None


def test_gateway_callback_naming_an_unknown_host_is_refused(submitted_message):
    answer = serve(
        DLR,
        {"token": settings.MESSAGING_GATEWAY_TOKEN, "ref": submitted_message.pk}
        | {"type": "1"},
        host="portal.attacker.example",
    )
    assert answer.status_code == 400
    submitted_message.refresh_from_db()
    assert submitted_message.status == "submitted"


def test_gateway_callbacks_follow_the_https_redirect_of_production(
    transactional_db, settings
):
    settings.SECURE_SSL_REDIRECT = True
    answer = serve(
        DLR,
        {"token": settings.MESSAGING_GATEWAY_TOKEN, "ref": "1", "type": "1"},
        wsgi=GatewayCallbackHandler(),
    )
    assert answer.status_code == 301
    assert answer.header("Location").startswith("https://127.0.0.1/messaging/")


def test_gateway_callbacks_exempted_from_the_redirect_are_served_over_http(
    submitted_message, settings
):
    # Kannel on the operator's internal network calls back over plain HTTP: with
    # the gateway's path exempted, the report is settled instead of redirected,
    # while pages still redirect.
    settings.SECURE_SSL_REDIRECT = True
    settings.SECURE_REDIRECT_EXEMPT = [r"^messaging/gateway/"]
    # Middleware reads these settings when a handler is built, as at start-up.
    answer = serve(
        DLR,
        {"token": settings.MESSAGING_GATEWAY_TOKEN, "ref": submitted_message.pk}
        | {"type": "1"},
        wsgi=GatewayCallbackHandler(),
    )
    assert (answer.status_code, answer.content) == (200, b"OK")
    submitted_message.refresh_from_db()
    assert submitted_message.status == "delivered"
    assert serve("/admin/login/", wsgi=WSGIHandler()).status_code == 301


def test_staff_login_through_the_served_application_keeps_session_and_csrf(
    transactional_db,
):
    UserFactory(username="cskh", is_staff=True)
    page = serve("/admin/login/")
    assert page.status_code == 200
    assert page.header("X-Frame-Options") == "DENY"
    csrf_cookie = page.cookies["csrftoken"]
    token = re.search(rb'name="csrfmiddlewaretoken" value="([^"]+)"', page.content)

    refused = serve(
        "/admin/login/",
        method="POST",
        form={"username": "cskh", "password": "pass-1234"},
        cookies={"csrftoken": csrf_cookie},
    )
    assert refused.status_code == 403
    assert "sessionid" not in refused.cookies

    logged_in = serve(
        "/admin/login/",
        method="POST",
        form={
            "username": "cskh",
            "password": "pass-1234",
            "csrfmiddlewaretoken": token.group(1).decode(),
        },
        cookies={"csrftoken": csrf_cookie},
    )
    assert logged_in.status_code == 302
    session = logged_in.cookies["sessionid"]
    assert serve("/admin/", cookies={"sessionid": session}).status_code == 200


def backend_pid() -> int:
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_backend_pid()")
        return cursor.fetchone()[0]


def test_gateway_callbacks_keep_their_connection_until_its_max_age(
    submitted_message, monkeypatch
):
    kept = backend_pid()
    gateway(DLR, ref=submitted_message.pk, type="8")
    assert backend_pid() == kept

    monkeypatch.setitem(connection.settings_dict, "CONN_MAX_AGE", 0)
    connection.close()
    gateway(DLR, ref=submitted_message.pk, type="1")
    # Closed when the request finished, as for any page.
    assert connection.connection is None


def test_connection_the_server_ended_between_callbacks_is_replaced(submitted_message):
    gateway(DLR, ref=submitted_message.pk, type="8")
    ended = backend_pid()
    with psycopg.connect(**connection.get_connection_params()) as other:
        other.execute("SELECT pg_terminate_backend(%s, 5000)", [ended])

    answer = gateway(DLR, ref=submitted_message.pk, type="1")

    assert answer.status_code == 200
    submitted_message.refresh_from_db()
    assert submitted_message.status == "delivered"
    assert backend_pid() != ended


def test_a_kept_connection_that_shows_nothing_wrong_costs_no_probe_query(
    submitted_message, monkeypatch
):
    gateway(DLR, ref=submitted_message.pk, type="8")
    probes = []
    monkeypatch.setattr(connection, "is_usable", lambda: probes.append(1) or True)

    answer = gateway(DLR, ref=submitted_message.pk, type="1")

    assert answer.status_code == 200
    assert probes == []

"""Zalo Notification Service (ZNS): a Zalo message sent as an approved template.

ZNS takes no free text: each message names a template Zalo has approved and gives
the values of its named parameters. The backend posts to `ZNS_URL` with the Official
Account's token in an `access_token` header and the JSON body
`{"phone": "84…", "template_id": …, "template_data": {…}, "tracking_id": <our id>}`;
Zalo answers `{"error": 0, "message": "Success", "data": {"msg_id": …, …}}`, or a
negative `error` with its `message`.

An accepted send is where the portal's knowledge ends: ZNS reports delivery through
a webhook (`user_received_message`) that is not wired, so the message stays
"accepted by the gateway" with Zalo's msg_id as its gateway id. The access token is
used as configured: refreshing it (an OA token lasts about a day) happens outside
the portal, and an expired one (-124) holds every Zalo message until a new one is set.

Settings (`MESSAGING_ZALO`): ZNS_URL, ACCESS_TOKEN (empty: ZNS is not configured and
Zalo messages wait on the agents' work list), TIMEOUT (seconds before a send counts
as unknown), CONNECT_TIMEOUT, POOL_SIZE, RATE_PER_SECOND (used by the dispatcher).
"""

from __future__ import annotations

import json

import urllib3
from django.conf import settings

from messaging.backends import OutgoingMessage, PooledHttpBackend, SendResult

DEFAULTS = {
    "ZNS_URL": "https://business.openapi.zalo.me/message/template",
    "ACCESS_TOKEN": "",
    "TIMEOUT": 10.0,
    "CONNECT_TIMEOUT": 3.0,
    "POOL_SIZE": 4,
    "RATE_PER_SECOND": 10.0,
}

# ZNS error codes that do not condemn the message, from Zalo's guide to its error
# codes (zalo.cloud/zns/guidelines/handle-error-code). Every other code, listed there
# or not, is permanent: the message fails with Zalo's own words, and staff may send
# it again once the cause is fixed.
#
# The Official Account or the app cannot send at all: every message would fare the
# same, so the run stops and the batch waits, as when an SMS gateway refuses the
# login. Failing each queued message one by one for a configuration slip would be
# worse.
ACCOUNT_ERRORS = {
    -101: "application invalid",
    -102: "application does not exist",
    -103: "application not activated",
    -104: "application secret key invalid",
    -105: "application not linked to an Official Account",
    -115: "out of quota: the ZNS account's balance is spent",
    -124: "access token invalid or expired",
    -144: "the Official Account's daily ZNS limit is reached",
}
# Worth trying this message again later (with the dispatcher's back-off).
RETRY_LATER_ERRORS = {
    -100: "unknown error: Zalo asks to try again later",
    -133: "this template may not be sent at night (22:00-06:00)",
    -147: "this template's daily limit is reached",
}


def zalo_settings(**overrides) -> dict:
    return {**DEFAULTS, **getattr(settings, "MESSAGING_ZALO", {}), **overrides}


def zns_configured() -> bool:
    """Whether Zalo messages may go through ZNS (an access token is set)."""
    return bool(zalo_settings()["ACCESS_TOKEN"])


def result_from_answer(answer: dict) -> SendResult:
    """What one ZNS answer means for the message, by its error code."""
    code = answer["error"]
    if code == 0:
        data = answer.get("data") or {}
        return SendResult.accepted(str(data.get("msg_id") or ""))
    reason = f"Zalo ZNS {code}: {answer.get('message') or ''}".strip()
    if code in ACCOUNT_ERRORS:
        return SendResult.temporary(reason, gateway_down=True)
    if code in RETRY_LATER_ERRORS:
        return SendResult.temporary(reason)
    return SendResult.permanent(reason)


def _json_answer(body: bytes) -> dict | None:
    """The answer's JSON if it carries an integer `error`, else None."""
    try:
        answer = json.loads(body)
    except ValueError:
        return None
    if not isinstance(answer, dict):
        return None
    code = answer.get("error")
    if not isinstance(code, int) or isinstance(code, bool):
        return None
    return answer


class ZaloZnsBackend(PooledHttpBackend):
    load_settings = staticmethod(zalo_settings)

    def payload(self, message: OutgoingMessage) -> dict:
        return {
            "phone": message.msisdn,
            "template_id": message.template_id,
            "template_data": dict(message.template_data or {}),
            "tracking_id": str(message.id),
        }

    def send(self, message: OutgoingMessage) -> SendResult:
        if message.channel != "zalo" or not message.template_id:
            return SendResult.permanent(
                "Zalo ZNS sends only Zalo messages rendered for a ZNS template."
            )
        try:
            response = self.http.request(
                "POST",
                self.config["ZNS_URL"],
                body=json.dumps(self.payload(message)).encode(),
                headers={
                    "access_token": self.config["ACCESS_TOKEN"],
                    "Content-Type": "application/json",
                },
            )
        except urllib3.exceptions.ReadTimeoutError:
            # The request left: Zalo may have sent it. Never send it blindly again.
            return SendResult.timeout(
                f"Zalo ZNS did not answer within {self.config['TIMEOUT']}s."
            )
        except (urllib3.exceptions.HTTPError, OSError) as exc:
            # Refused, reset or timed out before the request was read: not sent.
            return SendResult.temporary(
                f"Zalo ZNS unreachable: {exc}", gateway_down=True
            )
        answer = _json_answer(response.data)
        if answer is not None and response.status < 500:
            return result_from_answer(answer)
        text = response.data.decode("utf-8", "replace").strip()[:200]
        if response.status >= 500 or response.status in (401, 403, 429):
            return SendResult.temporary(
                f"Zalo ZNS HTTP {response.status}: {text}", gateway_down=True
            )
        if 200 <= response.status < 300:
            # Accepted at the HTTP level with an answer that says nothing: Zalo may
            # have sent it, so it is unknown rather than tried again.
            return SendResult.timeout(
                f"Zalo ZNS HTTP {response.status} without a result: {text}"
            )
        return SendResult.permanent(f"Zalo ZNS HTTP {response.status}: {text}")

"""Kannel's sendsms HTTP interface (smsbox), with delivery reports to a dlr-url.

Kannel answers 202 once it has queued the message; it reports delivery later by
calling the dlr-url given with each message, which names our message id, the DLR
type (%d) and the SMSC's id of the part (%F): a message Kannel split into parts gets
one final report per part. Inbound SMS reach `messaging.views.kannel_mo` through an
`sms-service` whose get-url points at it (see `kannel_config` for a working setup).

Settings (`MESSAGING_KANNEL`): SENDSMS_URL, USERNAME, PASSWORD, CALLBACK_BASE_URL (how
Kannel reaches this portal), SMSC (optional route), DLR_MASK (default 19: delivered,
failed, rejected by the SMSC), TIMEOUT (seconds before a submit counts as unknown),
POOL_SIZE.
"""

from __future__ import annotations

from urllib.parse import urlencode

import urllib3
from django.conf import settings
from django.urls import reverse

from messaging.backends import OutgoingMessage, PooledHttpBackend, SendResult
from messaging.encoding import UCS2

DEFAULTS = {
    "SENDSMS_URL": "http://127.0.0.1:13013/cgi-bin/sendsms",
    "USERNAME": "cskh",
    "PASSWORD": "",
    "CALLBACK_BASE_URL": "http://127.0.0.1:8000",
    "SMSC": "",
    "DLR_MASK": 1 | 2 | 16,
    "TIMEOUT": 10.0,
    "CONNECT_TIMEOUT": 3.0,
    "POOL_SIZE": 32,
    # Kannel passes on one final report per SMSC part (told apart by %F) when the
    # SMSC reports parts separately; its fake SMSC reports once per message.
    "DLR_PER_PART": True,
}

# Kannel's DLR types (the %d of the dlr-url) and what they mean for a message.
DLR_TYPES = {
    "1": "delivered",
    "2": "failed",
    "4": "buffered",
    "8": "accepted",
    "16": "rejected",
}


def kannel_settings(**overrides) -> dict:
    return {**DEFAULTS, **getattr(settings, "MESSAGING_KANNEL", {}), **overrides}


def dlr_url(config: dict, message_id: int) -> str:
    base = config["CALLBACK_BASE_URL"].rstrip("/")
    query = urlencode(
        {"token": settings.MESSAGING_GATEWAY_TOKEN, "ref": message_id}, safe=""
    )
    # %d, %F and %A are Kannel's escapes: DLR type, SMSC message id, SMSC reply.
    part = "&part=%F" if config["DLR_PER_PART"] else ""
    return f"{base}{reverse('messaging:kannel_dlr')}?{query}&type=%d{part}&reply=%A"


class KannelBackend(PooledHttpBackend):
    load_settings = staticmethod(kannel_settings)

    def params(self, message: OutgoingMessage) -> dict:
        params = {
            "username": self.config["USERNAME"],
            "password": self.config["PASSWORD"],
            "from": message.sender,
            "to": message.msisdn,
            "text": message.text,
            "charset": "UTF-8",
            "coding": "2" if message.encoding == UCS2 else "0",
            "dlr-mask": str(self.config["DLR_MASK"]),
            "dlr-url": dlr_url(self.config, message.id),
        }
        if self.config["SMSC"]:
            params["smsc"] = self.config["SMSC"]
        return params

    def send(self, message: OutgoingMessage) -> SendResult:
        try:
            response = self.http.request(
                "GET", self.config["SENDSMS_URL"], fields=self.params(message)
            )
        except urllib3.exceptions.ReadTimeoutError:
            return SendResult.timeout(
                f"Kannel did not answer within {self.config['TIMEOUT']}s."
            )
        except (urllib3.exceptions.HTTPError, OSError) as exc:
            # Connection refused or reset before the request was read: not sent.
            return SendResult.temporary(f"Kannel unreachable: {exc}", gateway_down=True)
        body = response.data.decode("utf-8", "replace").strip()
        if response.status in (200, 202) and body[:2] in ("0:", "3:"):
            return SendResult.accepted(str(message.id))
        if response.status in (401, 403, 503) or response.status >= 500:
            # Wrong credentials or a full queue: every message would fare the same.
            return SendResult.temporary(
                f"Kannel {response.status}: {body}", gateway_down=True
            )
        return SendResult.permanent(f"Kannel {response.status}: {body}")

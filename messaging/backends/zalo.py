"""Zalo Notification Service (ZNS): a Zalo message sent as an approved template.

ZNS takes no free text: each message names a template Zalo has approved and gives
the values of its named parameters. The backend posts to `ZNS_URL` with the Official
Account's token in an `access_token` header and the JSON body
`{"phone": "84…", "template_id": …, "template_data": {…}, "tracking_id": <our id>}`;
Zalo answers `{"error": 0, "message": "Success", "data": {"msg_id": …, …}}`, or a
negative `error` with its `message`.

An accepted send is where the portal's knowledge ends: ZNS reports delivery through
a webhook (`user_received_message`) that is not wired, so the message stays
"accepted by the gateway" with Zalo's msg_id as its gateway id.

The access token: an OA token lasts about 25 hours. The pair staff store in the admin
(`ZaloOaToken`, sealed) is used when there is one, else the ACCESS_TOKEN setting.
Beat renews the stored pair before it expires (`services.zalo_oa_token_refresh`,
Zalo's OAuth v4 for Official Accounts); should ZNS still answer -124 (token invalid
or expired), the backend refreshes once and sends that message once more, taking a
token from the run's rate limiter for it. When the
refresh fails too, the run stops and the batch waits, as for any account error.

Settings (`MESSAGING_ZALO`): ZNS_URL, ACCESS_TOKEN (empty and no stored token: ZNS is
not configured and Zalo messages wait on the agents' work list), APP_ID, APP_SECRET
and OAUTH_URL (refreshing; without the id and secret nothing is refreshed), TIMEOUT
(seconds before a send counts as unknown), CONNECT_TIMEOUT, POOL_SIZE,
RATE_PER_SECOND (used by the dispatcher).
"""

from __future__ import annotations

import json
import logging
import threading
from dataclasses import dataclass
from urllib.parse import urlencode

import urllib3
from django.conf import settings
from django.db import connection

from messaging import sealing
from messaging.backends import OutgoingMessage, PooledHttpBackend, SendResult
from messaging.models import ZaloOaToken

logger = logging.getLogger(__name__)

DEFAULTS = {
    "ZNS_URL": "https://business.openapi.zalo.me/message/template",
    "ACCESS_TOKEN": "",
    "APP_ID": "",
    "APP_SECRET": "",
    "OAUTH_URL": "https://oauth.zaloapp.com/v4/oa/access_token",
    "TIMEOUT": 10.0,
    "CONNECT_TIMEOUT": 3.0,
    "POOL_SIZE": 4,
    "RATE_PER_SECOND": 10.0,
}

TOKEN_EXPIRED = -124

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
    TOKEN_EXPIRED: "access token invalid or expired",
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


def token_refresh_configured(config: dict | None = None) -> bool:
    """Whether the app's id and secret are set, so a stored token pair is used."""
    config = config or zalo_settings()
    return bool(config["APP_ID"] and config["APP_SECRET"])


def stored_access_token(config: dict | None = None) -> str:
    """The access token stored for the configured app, or "" when there is none."""
    config = config or zalo_settings()
    if not token_refresh_configured(config):
        return ""
    token = ZaloOaToken.objects.filter(app_id=config["APP_ID"]).first()
    if token is None:
        return ""
    try:
        return token.access_token()
    except sealing.SealError:
        # Sealed under another key (SECRET_KEY rotated): staff must enter it again.
        logger.error("The stored Zalo OA tokens cannot be opened with this key.")
        return ""


def zns_configured() -> bool:
    """Whether Zalo messages may go through ZNS (an access token is set or stored)."""
    return bool(zalo_settings()["ACCESS_TOKEN"] or stored_access_token())


@dataclass(frozen=True)
class TokenPair:
    access_token: str
    refresh_token: str
    expires_in: int

    def __repr__(self):
        # Never in a log or a traceback.
        return f"TokenPair(expires_in={self.expires_in})"


class TokenRefreshError(Exception):
    """Zalo's OAuth refused the refresh or could not be reached; says why, no secret."""


def request_token_refresh(*, refresh_token: str, config: dict) -> TokenPair:
    """Spend `refresh_token` at Zalo's OAuth for a new pair (OAuth v4, Official Account).

    `POST OAUTH_URL` with the app secret in a `secret_key` header and the form
    `refresh_token`, `app_id`, `grant_type=refresh_token`; Zalo answers
    `{"access_token", "refresh_token", "expires_in": "<seconds>"}` or a negative
    `error` with `error_name` and `error_description`.
    """
    http = urllib3.PoolManager(
        retries=False,
        timeout=urllib3.Timeout(
            connect=float(config["CONNECT_TIMEOUT"]), read=float(config["TIMEOUT"])
        ),
    )
    try:
        response = http.request(
            "POST",
            config["OAUTH_URL"],
            body=urlencode(
                {
                    "refresh_token": refresh_token,
                    "app_id": config["APP_ID"],
                    "grant_type": "refresh_token",
                }
            ),
            headers={
                "secret_key": config["APP_SECRET"],
                "Content-Type": "application/x-www-form-urlencoded",
            },
        )
    except (urllib3.exceptions.HTTPError, OSError) as exc:
        # A read timeout may have spent the refresh token without giving the new
        # pair; nothing can tell, so the old pair is kept and tried next time.
        raise TokenRefreshError(f"Zalo OAuth unreachable: {exc}") from exc
    finally:
        http.clear()
    try:
        answer = json.loads(response.data)
    except ValueError:
        answer = None
    if not isinstance(answer, dict):
        text = response.data.decode("utf-8", "replace").strip()[:200]
        raise TokenRefreshError(f"Zalo OAuth HTTP {response.status}: {text}")
    if answer.get("error"):
        raise TokenRefreshError(
            f"Zalo OAuth {answer['error']} {answer.get('error_name') or ''}: "
            f"{answer.get('error_description') or ''}".strip()
        )
    try:
        return TokenPair(
            access_token=str(answer["access_token"]),
            refresh_token=str(answer["refresh_token"]),
            expires_in=int(answer["expires_in"]),
        )
    except (KeyError, TypeError, ValueError) as exc:
        raise TokenRefreshError(
            f"Zalo OAuth HTTP {response.status}: an answer without a token pair"
        ) from exc


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

    def __init__(self, **options):
        super().__init__(**options)
        self.access_token = (
            stored_access_token(self.config) or self.config["ACCESS_TOKEN"]
        )
        # Sends run in the dispatcher's threads: one of them refreshes at a time,
        # and the others then send with its new token.
        self._token_lock = threading.Lock()
        self._created_in = threading.get_ident()

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
        token = self.access_token
        result, code = self._submit(message, token)
        if code != TOKEN_EXPIRED or not token_refresh_configured(self.config):
            return result
        # ZNS refused the message for the token alone: it was not sent, so once the
        # token is renewed it is sent once more, and only once.
        try:
            renewed = self._renew_token(expired=token)
        except TokenRefreshError as exc:
            return SendResult.temporary(
                f"{result.error} (token refresh failed: {exc})", gateway_down=True
            )
        if not renewed:
            return result
        # The second request counts against Zalo's rate like any other: when the
        # token expires, every send in flight comes back here at once.
        if self.limiter is not None:
            self.limiter.acquire(1)
        return self._submit(message, self.access_token)[0]

    def _renew_token(self, *, expired: str) -> bool:
        """Make `self.access_token` a token other than `expired`; False if none is.

        Raises TokenRefreshError when Zalo refuses the refresh.
        """
        # services imports this module: imported here, when a send needs it.
        from eligibility.models import DomainError
        from messaging import services

        with self._token_lock:
            if self.access_token != expired:
                return True  # another send of this run renewed it meanwhile
            try:
                # Renews only if the stored token is still the expired one: another
                # worker may have renewed it, and its pair is then simply read.
                services.zalo_oa_token_refresh(replacing=expired)
                self.access_token = stored_access_token(self.config) or expired
            except DomainError as exc:
                raise TokenRefreshError(str(exc)) from exc
            finally:
                if threading.get_ident() != self._created_in:
                    # A dispatcher thread's own connection would outlive the batch.
                    connection.close()
            return self.access_token != expired

    def _submit(
        self, message: OutgoingMessage, token: str
    ) -> tuple[SendResult, int | None]:
        """One POST to ZNS: the result, and Zalo's error code when it gave one."""
        try:
            response = self.http.request(
                "POST",
                self.config["ZNS_URL"],
                body=json.dumps(self.payload(message)).encode(),
                headers={
                    "access_token": token,
                    "Content-Type": "application/json",
                },
            )
        except urllib3.exceptions.ReadTimeoutError:
            # The request left: Zalo may have sent it. Never send it blindly again.
            return SendResult.timeout(
                f"Zalo ZNS did not answer within {self.config['TIMEOUT']}s."
            ), None
        except (urllib3.exceptions.HTTPError, OSError) as exc:
            # Refused, reset or timed out before the request was read: not sent.
            return SendResult.temporary(
                f"Zalo ZNS unreachable: {exc}", gateway_down=True
            ), None
        answer = _json_answer(response.data)
        if answer is not None and response.status < 500:
            return result_from_answer(answer), answer["error"]
        text = response.data.decode("utf-8", "replace").strip()[:200]
        if response.status >= 500 or response.status in (401, 403, 429):
            return SendResult.temporary(
                f"Zalo ZNS HTTP {response.status}: {text}", gateway_down=True
            ), None
        if 200 <= response.status < 300:
            # Accepted at the HTTP level with an answer that says nothing: Zalo may
            # have sent it, so it is unknown rather than tried again.
            return SendResult.timeout(
                f"Zalo ZNS HTTP {response.status} without a result: {text}"
            ), None
        return SendResult.permanent(f"Zalo ZNS HTTP {response.status}: {text}"), None

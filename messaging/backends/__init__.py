"""Gateway backends, chosen by the `MESSAGING_BACKEND` setting like `EMAIL_BACKEND`.

A backend gets one `OutgoingMessage` at a time and answers with a `SendResult`; it
never touches the outbox itself (the dispatcher records the result). Those shipped:

- `messaging.backends.locmem.LocmemBackend`: keeps messages in memory (tests);
- `messaging.backends.database.DatabaseBackend`: logs and reports delivery at once
  (the demo's default: nothing leaves the machine);
- `messaging.backends.kannel.KannelBackend`: Kannel's sendsms HTTP interface, with a
  dlr-url back to `messaging.views.kannel_dlr`;
- `messaging.backends.smpp.SmppBackend`: binds to the SMSC directly with smpplib.

Zalo messages have a backend of their own, `MESSAGING_ZALO_BACKEND`:
`messaging.backends.zalo.ZaloZnsBackend` (Zalo's ZNS API). Each channel is dispatched
in a run of its own, so an SMS gateway never gets a Zalo message nor ZNS an SMS.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import urllib3
from django.conf import settings
from django.utils.module_loading import import_string


@dataclass(frozen=True)
class OutgoingMessage:
    id: int
    msisdn: str
    sender: str
    text: str
    encoding: str
    segments: int
    channel: str = "sms"
    # Zalo: the approved ZNS template and its parameter values.
    template_id: str = ""
    template_data: Mapping[str, str] | None = None


@dataclass(frozen=True)
class SendResult:
    ACCEPTED = "accepted"
    TEMPORARY = "temporary"
    PERMANENT = "permanent"
    TIMEOUT = "timeout"

    status: str
    gateway_id: str = ""
    error: str = ""
    # The gateway cannot be reached at all: the rest of the batch waits too.
    gateway_down: bool = False
    # The backend knows the message arrived (demo backends): no DLR will come.
    delivered: bool = False
    # The gateway's ids of a long message's other parts, when it gives each part
    # its own (SMPP): their delivery receipts name those ids.
    part_ids: tuple[str, ...] = ()

    @classmethod
    def accepted(
        cls,
        gateway_id: str = "",
        *,
        delivered: bool = False,
        part_ids: tuple[str, ...] = (),
    ):
        return cls(
            cls.ACCEPTED, gateway_id=gateway_id, delivered=delivered, part_ids=part_ids
        )

    @classmethod
    def temporary(cls, error: str, *, gateway_down: bool = False):
        return cls(cls.TEMPORARY, error=error, gateway_down=gateway_down)

    @classmethod
    def permanent(cls, error: str):
        return cls(cls.PERMANENT, error=error)

    @classmethod
    def timeout(cls, error: str = ""):
        return cls(cls.TIMEOUT, error=error)


class BaseBackend:
    # How many submissions a dispatch run may have in flight at once; a backend
    # whose `send` is safe to call from several threads raises it.
    concurrency = 1
    # The dispatch run's shared rate limiter, set by the run: a backend that sends a
    # message a second time (ZNS after renewing its token) takes a token for it.
    limiter = None

    def __init__(self, **options):
        self.options = options

    def send(self, message: OutgoingMessage) -> SendResult:
        raise NotImplementedError

    def close(self) -> None:
        pass


class PooledHttpBackend(BaseBackend):
    """A backend that posts each message over HTTP from a pool of connections.

    `load_settings` gives the backend's configuration merged with `options`; its
    POOL_SIZE, CONNECT_TIMEOUT and TIMEOUT size the pool. urllib3's pool is
    thread-safe, so the dispatcher may keep one send per pooled connection in flight.
    """

    @staticmethod
    def load_settings(**options) -> dict:
        raise NotImplementedError

    def __init__(self, **options):
        super().__init__(**options)
        self.config = self.load_settings(**options)
        self.concurrency = int(self.config["POOL_SIZE"])
        self.http = urllib3.PoolManager(
            maxsize=self.concurrency,
            block=True,
            retries=False,
            timeout=urllib3.Timeout(
                connect=float(self.config["CONNECT_TIMEOUT"]),
                read=float(self.config["TIMEOUT"]),
            ),
        )

    def close(self) -> None:
        self.http.clear()


def get_backend(
    path: str | None = None, *, channel: str = "sms", **options
) -> BaseBackend:
    """An instance of the backend configured for `channel` (or of `path`)."""
    if path is None:
        path = (
            settings.MESSAGING_ZALO_BACKEND
            if channel == "zalo"
            else settings.MESSAGING_BACKEND
        )
    return import_string(path)(**options)

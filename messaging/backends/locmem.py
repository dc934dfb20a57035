"""Keeps sent messages in `outbox` (like `django.core.mail.outbox`), for tests.

`script(msisdn, result)` makes the gateway answer that number with the given result
the next time, so tests can play a gateway that errs, times out or is down.
"""

from __future__ import annotations

import threading

from messaging.backends import BaseBackend, OutgoingMessage, SendResult

outbox: list[OutgoingMessage] = []
_scripted: dict[str, list[SendResult]] = {}
_lock = threading.Lock()


def reset() -> None:
    with _lock:
        outbox.clear()
        _scripted.clear()


def script(msisdn: str, *results: SendResult) -> None:
    with _lock:
        _scripted.setdefault(msisdn, []).extend(results)


class LocmemBackend(BaseBackend):
    def send(self, message: OutgoingMessage) -> SendResult:
        with _lock:
            queue = _scripted.get(message.msisdn)
            if queue:
                result = queue.pop(0)
                if result.status == SendResult.ACCEPTED:
                    outbox.append(message)
                return result
            outbox.append(message)
        return SendResult.accepted(f"locmem-{message.id}")

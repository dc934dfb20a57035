"""The demo's gateway: logs each message and reports it delivered at once.

Nothing leaves the machine; the outbox rows show what would have been sent.
"""

from __future__ import annotations

import logging

from messaging.backends import BaseBackend, OutgoingMessage, SendResult

logger = logging.getLogger("messaging.sent")


class DatabaseBackend(BaseBackend):
    def send(self, message: OutgoingMessage) -> SendResult:
        logger.info(
            "SMS %s from %s to %s (%s, %s segment(s)): %s",
            message.id,
            message.sender,
            message.msisdn,
            message.encoding,
            message.segments,
            message.text if self.options.get("show_text") else "…",
        )
        return SendResult.accepted(f"db-{message.id}", delivered=True)


ConsoleBackend = DatabaseBackend

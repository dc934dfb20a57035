"""SMPP 3.4 straight to the operator's SMSC, with smpplib.

`send` binds on first use (transceiver by default; `BIND: "transmitter"` for SMSCs
that want separate binds), submits the parts of a message and waits for each
submit_sm_resp: a refusal is permanent unless the SMSC says it is throttled or its
queue is full; no answer within TIMEOUT means unknown. `listen` runs a receiver loop
that turns deliver_sm into delivery reports (receipts) or inbound messages (MO).

Settings (`MESSAGING_SMPP`): HOST, PORT, SYSTEM_ID, PASSWORD, SYSTEM_TYPE, BIND,
TIMEOUT, SOURCE_TON.
"""

from __future__ import annotations

import logging
import re

import smpplib.client
import smpplib.consts
import smpplib.exceptions
import smpplib.gsm
from django.conf import settings

from messaging.backends import BaseBackend, OutgoingMessage, SendResult

logger = logging.getLogger(__name__)

DEFAULTS = {
    "HOST": "127.0.0.1",
    "PORT": 2775,
    "SYSTEM_ID": "cskh",
    "PASSWORD": "",
    "SYSTEM_TYPE": "",
    "BIND": "transceiver",
    "TIMEOUT": 10.0,
    # 5 = alphanumeric sender (a brandname); 1 = international number.
    "SOURCE_TON": smpplib.consts.SMPP_TON_ALNUM,
}

# SMSC answers that mean "later", not "never".
TEMPORARY_STATUSES = {
    smpplib.consts.SMPP_ESME_RTHROTTLED,
    smpplib.consts.SMPP_ESME_RMSGQFUL,
    smpplib.consts.SMPP_ESME_RSYSERR,
}

RECEIPT = re.compile(
    r"id:(?P<id>\S+).*?stat:(?P<stat>\w+)(?:.*?err:(?P<err>\w+))?", re.S
)
RECEIPT_OUTCOMES = {
    "DELIVRD": "delivered",
    "EXPIRED": "expired",
    "UNDELIV": "failed",
    "REJECTD": "rejected",
    "DELETED": "failed",
    "ACCEPTD": "accepted",
    "ENROUTE": "buffered",
    "UNKNOWN": "buffered",
}


def smpp_settings(**overrides) -> dict:
    return {**DEFAULTS, **getattr(settings, "MESSAGING_SMPP", {}), **overrides}


def _text(value) -> str:
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace").rstrip("\x00")
    return str(value or "")


class SmppBackend(BaseBackend):
    def __init__(self, **options):
        super().__init__(**options)
        self.config = smpp_settings(**options)
        self.client = None
        self._answers: dict[int, tuple[int, str]] = {}

    # -- connection --------------------------------------------------------------

    def _on_sent(self, pdu, **kwargs):
        self._answers[pdu.sequence] = (
            int(pdu.status),
            _text(getattr(pdu, "message_id", b"")),
        )

    def _on_error(self, pdu):
        if pdu.command == "submit_sm_resp":
            self._answers[pdu.sequence] = (int(pdu.status), "")
        else:
            raise smpplib.exceptions.PDUError(f"({pdu.status}) {pdu.command}")

    def _on_received(self, pdu, **kwargs):
        from messaging import services

        text = _text(pdu.short_message)
        # esm_class bit 2 marks an SMSC delivery receipt; anything else is MO.
        if int(pdu.esm_class or 0) & 0x04:
            receipt = RECEIPT.search(text)
            reference = _text(getattr(pdu, "receipted_message_id", b"")) or (
                receipt.group("id") if receipt else ""
            )
            stat = receipt.group("stat") if receipt else "UNKNOWN"
            services.delivery_report_record(
                reference=reference,
                by_gateway_id=True,
                part=reference,
                outcome=RECEIPT_OUTCOMES.get(stat, "failed"),
                code=(receipt.group("err") or "") if receipt else "",
                reason=text,
            )
        else:
            source = _text(pdu.source_addr)
            services.inbound_receive(
                gateway_id=f"smpp:{source}:{pdu.sequence}:{hash(text) & 0xFFFF:x}",
                msisdn=source,
                short_code=_text(pdu.destination_addr),
                text=text,
            )
        return smpplib.consts.SMPP_ESME_ROK

    def connect(self, bind: str | None = None):
        client = smpplib.client.Client(
            self.config["HOST"],
            int(self.config["PORT"]),
            timeout=float(self.config["TIMEOUT"]),
            allow_unknown_opt_params=True,
        )
        client.set_message_sent_handler(self._on_sent)
        client.set_message_received_handler(self._on_received)
        client.set_error_pdu_handler(self._on_error)
        client.connect()
        binder = getattr(client, f"bind_{bind or self.config['BIND']}")
        try:
            binder(
                system_id=self.config["SYSTEM_ID"],
                password=self.config["PASSWORD"],
                system_type=self.config["SYSTEM_TYPE"],
            )
        except BaseException:
            client.disconnect()
            raise
        self.client = client
        return client

    def close(self) -> None:
        if self.client is not None:
            try:
                self.client.unbind()
            except Exception:  # noqa: BLE001 - the peer may be gone already
                pass
            self.client.disconnect()
            self.client = None

    # -- sending -----------------------------------------------------------------

    def send(self, message: OutgoingMessage) -> SendResult:
        try:
            client = self.client or self.connect()
        except (
            OSError,
            smpplib.exceptions.ConnectionError,
            smpplib.exceptions.PDUError,
        ) as exc:
            self.client = None
            return SendResult.temporary(f"SMSC unreachable: {exc}", gateway_down=True)
        parts, coding, esm_class = smpplib.gsm.make_parts(message.text)
        sequences = []
        try:
            for part in parts:
                pdu = client.send_message(
                    source_addr_ton=self.config["SOURCE_TON"],
                    source_addr=message.sender,
                    dest_addr_ton=smpplib.consts.SMPP_TON_INTL,
                    dest_addr_npi=smpplib.consts.SMPP_NPI_ISDN,
                    destination_addr=message.msisdn,
                    short_message=part,
                    data_coding=coding,
                    esm_class=esm_class,
                    registered_delivery=True,
                )
                sequences.append(pdu.sequence)
            while not all(seq in self._answers for seq in sequences):
                client.read_once(auto_send_enquire_link=False)
        except TimeoutError:
            self.close()
            return SendResult.timeout("The SMSC did not answer the submit in time.")
        except (OSError, smpplib.exceptions.ConnectionError) as exc:
            self.close()
            if not sequences:
                return SendResult.temporary(
                    f"SMSC connection lost: {exc}", gateway_down=True
                )
            return SendResult.timeout(f"SMSC connection lost mid-submit: {exc}")
        answers = [self._answers.pop(seq) for seq in sequences]
        failed = [status for status, _id in answers if status != 0]
        if failed:
            status = failed[0]
            reason = smpplib.consts.DESCRIPTIONS.get(status, "unknown status")
            error = f"SMSC refused (0x{status:08x}): {reason}"
            if status in TEMPORARY_STATUSES:
                return SendResult.temporary(error)
            return SendResult.permanent(error)
        ids = [gateway_id for _status, gateway_id in answers if gateway_id]
        return SendResult.accepted(ids[0] if ids else "", part_ids=tuple(ids[1:]))

    # -- receiving ---------------------------------------------------------------

    def listen(self, *, should_stop=lambda: False, bind: str = "receiver") -> None:
        """Receive delivery reports and MO until `should_stop()` is true."""
        client = self.connect(bind=bind)
        client._socket.settimeout(1.0)
        while not should_stop():
            try:
                client.read_once(auto_send_enquire_link=False)
            except TimeoutError:
                continue

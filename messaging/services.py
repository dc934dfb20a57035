"""Writes to messaging: enqueueing, dispatch, delivery reports, inbound SMS, staff acts.

Domain apps call `message_enqueue` / `messages_enqueue_bulk` inside their own
transaction, so a message exists exactly when the event that causes it was committed.
Dispatch workers (`dispatch_run`, from the Celery sweep or the `messaging_dispatch`
command) claim due rows of one channel and hand them to that channel's backend: SMS
to the gateway, Zalo to Zalo's notification API (ZNS) when it is configured.
"""

from __future__ import annotations

import json
import logging
import os
import re
import socket
import struct
import time
import uuid
import zlib
from collections import deque
from collections.abc import Callable, Iterable, Mapping
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager, nullcontext
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from django.conf import settings
from django.db import IntegrityError, connection, transaction
from django.db.models import Case, Count, F, Value, When
from django.utils import timezone
from django.utils.translation import gettext as _

from campaigns.models import Campaign
from eligibility.models import DomainError
from messaging import encoding, sealing
from messaging.backends import OutgoingMessage, SendResult, get_backend, zalo
from messaging.backends.zalo import zalo_settings, zns_configured
from messaging.limiter import gateway_limiter
from messaging.models import (
    MASK,
    Channel,
    DeliveryReport,
    DoNotContact,
    InboundMessage,
    LoyaltySignup,
    Message,
    MessagePart,
    MessageTemplate,
    MessagingEvent,
    MessagingSettings,
    Purpose,
    ZaloOaToken,
    format_value,
)

logger = logging.getLogger(__name__)

Status = Message.Status

_MSISDN_DIGITS = re.compile(r"\D")


def msisdn_normalize(value) -> str | None:
    """84 + 9 digits, from the spellings staff and files use; None if not a number."""
    digits = _MSISDN_DIGITS.sub("", str(value or ""))
    if len(digits) == 10 and digits.startswith("0"):
        digits = "84" + digits[1:]
    elif len(digits) == 9 and not digits.startswith("0"):
        digits = "84" + digits
    if len(digits) == 11 and digits.startswith("84") and digits[2] != "0":
        return digits
    return None


def _event(*, kind: str, actor=None, campaign=None, message=None, data=None):
    return MessagingEvent.objects.create(
        kind=kind,
        actor=actor,
        campaign=campaign,
        message=message,
        data=data or {},
    )


def messaging_settings_for(campaign: Campaign | None) -> MessagingSettings:
    """The campaign's settings row, or the defaults (unsaved) when it has none."""
    if campaign is None:
        return MessagingSettings()
    found = MessagingSettings.objects.filter(campaign=campaign).first()
    return found or MessagingSettings(campaign=campaign)


def template_for(
    *,
    campaign: Campaign | None,
    purpose: str,
    variant: str = "",
    channel: str = Channel.SMS,
) -> MessageTemplate:
    """The campaign's template for `purpose`, else the portal-wide one."""
    # The campaign comes along: a bulk enqueue renders while its COPY streams, when
    # the connection can run no query (not even for an error naming the template).
    candidates = MessageTemplate.objects.select_related("campaign").filter(
        purpose=purpose, variant=variant, channel=channel
    )
    template = None
    if campaign is not None:
        template = candidates.filter(campaign=campaign).first()
    if template is None:
        template = candidates.filter(campaign__isnull=True).first()
    if template is None:
        raise DomainError(
            _(
                "No %(channel)s template for %(purpose)s%(variant)s in campaign %(campaign)s."
            )
            % {
                "channel": Channel(channel).label,
                "purpose": Purpose(purpose).label,
                "variant": f" ({variant})" if variant else "",
                "campaign": campaign.code if campaign else "*",
            }
        )
    return template


# --- Enqueueing ---------------------------------------------------------------------


@dataclass
class _Rendered:
    msisdn: str
    sequence: int
    body: str
    sealed: bytes | None
    encoding: str
    segments: int
    status: str
    last_error: str
    template_data: dict | None = None


def _goes_by_zns(template: MessageTemplate) -> bool:
    """Whether the template's Zalo messages are sent through ZNS, not by hand."""
    return (
        template.channel == Channel.ZALO
        and bool(template.zalo_template_id)
        and not template.sensitive
        and zns_configured()
    )


def _render(
    *,
    template: MessageTemplate,
    msisdn_raw,
    sequence: int,
    context: Mapping,
    blocked: bool,
    over_cap: bool,
    sensitive: bool,
    msisdn: str | None = None,
    seal=sealing.seal,
    by_zns: bool = False,
) -> _Rendered:
    """One message's row values. `msisdn` is the normalised number when the caller
    has it already; `seal` a `sealing.sealer()` when it renders many."""
    if msisdn is None:
        msisdn = msisdn_normalize(msisdn_raw)
    if msisdn is None:
        return _Rendered(
            str(msisdn_raw or "")[:15],
            sequence,
            "",
            None,
            encoding.GSM7,
            0,
            Status.FAILED,
            _("Not a valid mobile number."),
        )
    values = template.render_values({"msisdn": "0" + msisdn[2:], **context})
    text = template.render_text(values)
    info = template.measure(text, values)
    sealed = None
    body = text
    if sensitive:
        sealed = seal(text)
        body = template.render_text({**values, "password": MASK})
    status, error = Status.QUEUED, ""
    template_data = None
    if template.channel == Channel.ZALO:
        # Kept even for the work list, so that the message can go through ZNS once
        # it is configured; never a secret (a Zalo template cannot carry one).
        template_data = None if sensitive else values
        if not by_zns:
            status, error = (
                Status.HELD,
                _("Zalo work list: an agent sends this by hand."),
            )
    if info.segments > template.max_segments:
        status = Status.HELD
        error = _(
            "Too long: %(segments)s SMS segments (%(length)s characters, "
            "%(encoding)s), the template allows %(limit)s."
        ) % {
            "segments": info.segments,
            "length": info.length,
            "encoding": info.encoding.upper(),
            "limit": template.max_segments,
        }
    if over_cap:
        status, error = (
            Status.CANCELLED,
            _("The campaign's cap per customer is reached."),
        )
    if blocked:
        status, error = Status.CANCELLED, _("The number is on the do-not-contact list.")
    return _Rendered(
        msisdn,
        sequence,
        body,
        sealed,
        info.encoding,
        info.segments,
        status,
        error,
        template_data,
    )


def _due_at(
    *,
    template: MessageTemplate,
    sequence: int,
    event_at: datetime | None,
    due_at: datetime | None,
    config: MessagingSettings,
    now: datetime,
) -> datetime:
    if due_at is None:
        schedule = template.schedules.filter(sequence=sequence).first()
        due_at = (
            schedule.due_at(event_at=event_at, now=now) if schedule else event_at or now
        )
    if config.campaign_id is None:
        return due_at
    return config.next_window_start(due_at)


def _cap_lock(campaign_id: int, msisdn: str) -> None:
    # Two enqueues for the same customer in parallel transactions would both see
    # room under the cap; the lock makes the second wait for the first to commit.
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT pg_advisory_xact_lock(%s)",
                [zlib.crc32(f"messaging-cap:{campaign_id}:{msisdn}".encode())],
            )


def _existing_counts(campaign: Campaign, numbers: list[str]) -> dict[str, int]:
    """Promotional messages each number already has in the campaign (for the cap)."""
    return dict(
        Message.objects.filter(
            campaign=campaign,
            msisdn__in=numbers,
            template__exempt_from_do_not_contact=False,
        )
        .exclude(status=Status.CANCELLED)
        .values_list("msisdn")
        .annotate(n=Count("id"))
        .values_list("msisdn", "n")
    )


@transaction.atomic
def message_enqueue(
    *,
    campaign: Campaign | None,
    msisdn: str,
    purpose: str,
    context: Mapping,
    sequence: int = 1,
    variant: str = "",
    channel: str = Channel.SMS,
    event_at: datetime | None = None,
    due_at: datetime | None = None,
    template: MessageTemplate | None = None,
) -> Message:
    """Write one message to the outbox (or return the one already written).

    Call it inside the transaction of the event that causes the message. The key
    (campaign, number, purpose, sequence) makes a second call a no-op that returns
    the first row. A number on the do-not-contact list (unless the template is a
    service message), or past the campaign's cap, gives a cancelled row saying why;
    a text over the template's segment limit gives a held row; an invalid number a
    failed one: each is visible in the admin, none is sent. A Zalo message is queued
    for ZNS when it is configured and the template names a ZNS template, and held on
    the agents' work list otherwise.
    """
    template = template or template_for(
        campaign=campaign, purpose=purpose, variant=variant, channel=channel
    )
    number = msisdn_normalize(msisdn)
    key = {
        "campaign": campaign,
        "msisdn": number or str(msisdn)[:15],
        "purpose": purpose,
        "sequence": sequence,
    }
    existing = Message.objects.filter(**key).first()
    if existing:
        return existing
    if campaign is not None:
        _lock_for_key_share(Campaign._meta.db_table, campaign.pk)
    config = messaging_settings_for(campaign)
    blocked = over_cap = False
    if number:
        if not template.exempt_from_do_not_contact:
            blocked = DoNotContact.objects.filter(msisdn=number).exists()
        if (
            campaign is not None
            and config.cap_per_subscriber is not None
            and not template.exempt_from_do_not_contact
        ):
            _cap_lock(campaign.pk, number)
            over_cap = (
                _existing_counts(campaign, [number]).get(number, 0)
                >= config.cap_per_subscriber
            )
    rendered = _render(
        template=template,
        msisdn_raw=msisdn,
        sequence=sequence,
        context=context,
        blocked=blocked,
        over_cap=over_cap,
        sensitive=template.sensitive,
        by_zns=_goes_by_zns(template),
    )
    now = timezone.now()
    message = Message(
        campaign=campaign,
        template=template,
        msisdn=rendered.msisdn,
        purpose=purpose,
        sequence=sequence,
        channel=template.channel,
        sender=template.sender or settings.MESSAGING_DEFAULT_SENDER,
        body=rendered.body,
        sealed_body=rendered.sealed,
        sensitive=template.sensitive,
        encoding=rendered.encoding,
        segments=rendered.segments,
        status=rendered.status,
        last_error=rendered.last_error,
        zalo_template_id=template.zalo_template_id,
        template_data=rendered.template_data,
        due_at=_due_at(
            template=template,
            sequence=sequence,
            event_at=event_at,
            due_at=due_at,
            config=config,
            now=now,
        ),
        created_at=now,
    )
    try:
        with transaction.atomic():
            message.save()
    except IntegrityError:
        # Written meanwhile by a parallel transaction with the same key.
        return Message.objects.get(**key)
    return message


@dataclass
class BulkResult:
    rows: int = 0
    written: int = 0
    already_there: int = 0
    cancelled: int = 0
    held: int = 0
    invalid: int = 0

    def as_dict(self) -> dict:
        return dict(self.__dict__)


# The outbox columns a bulk enqueue writes: those that vary per message first, then
# those every message of one call shares (written once per call as one text).
_ROW_COLUMNS = (
    "msisdn",
    "sequence",
    "body",
    "sealed_body",
    "encoding",
    "segments",
    "status",
    "last_error",
    "template_data",
)
_SHARED_COLUMNS = (
    "campaign_id",
    "template_id",
    "purpose",
    "channel",
    "sender",
    "sensitive",
    "due_at",
    "attempts",
    "gateway_message_id",
    "claimed_by",
    "created_at",
    "zalo_template_id",
)
_COLUMNS = _ROW_COLUMNS + _SHARED_COLUMNS

# A bulk enqueue writes with COPY's binary format: PostgreSQL then stores each value
# as sent, without scanning the text for delimiters and escapes or decoding the
# sealed bytes from hex, which took a third of its time per row.
_BINARY_HEADER = b"PGCOPY\n\xff\r\n\x00" + bytes(8)  # signature, flags, no extension
_BINARY_TRAILER = b"\xff\xff"
_FIELD_COUNT = struct.pack(">h", len(_COLUMNS))
_LENGTH = struct.Struct(">i").pack
_NULL = _LENGTH(-1)
_POSTGRES_EPOCH = datetime(2000, 1, 1, tzinfo=UTC)
# Rows handed to psycopg per write: one call per row costs more than the COPY.
_COPY_ROWS_PER_WRITE = 256


def _binary_text(value: str) -> bytes:
    data = value.encode()
    return _LENGTH(len(data)) + data


def _binary_bytes(data: bytes | None) -> bytes:
    return _NULL if data is None else _LENGTH(len(data)) + data


def _binary_int8(value: int | None) -> bytes:
    return _NULL if value is None else b"\x00\x00\x00\x08" + struct.pack(">q", value)


def _binary_int2(value: int) -> bytes:
    return b"\x00\x00\x00\x02" + struct.pack(">h", value)


def _binary_jsonb(value: dict | None) -> bytes:
    # jsonb's binary form: a version byte, then the JSON text.
    return (
        _NULL if value is None else _binary_bytes(b"\x01" + json.dumps(value).encode())
    )


def _binary_timestamptz(value: datetime) -> bytes:
    return _binary_int8((value - _POSTGRES_EPOCH) // timedelta(microseconds=1))


def _copy_row(rendered: _Rendered, shared: bytes) -> bytes:
    """One message as a row of COPY's binary format, in `_COLUMNS` order."""
    return b"".join(
        (
            _FIELD_COUNT,
            _binary_text(rendered.msisdn),
            _binary_int8(rendered.sequence),
            _binary_text(rendered.body),
            _binary_bytes(rendered.sealed),
            _binary_text(rendered.encoding),
            _binary_int2(rendered.segments),
            _binary_text(rendered.status),
            _binary_text(rendered.last_error),
            _binary_jsonb(rendered.template_data),
            shared,
        )
    )


def _copy_shared(
    *,
    campaign_id: int | None,
    template_id: int | None,
    purpose: str,
    channel: str,
    sender: str,
    sensitive: bool,
    due_at: datetime,
    created_at: datetime,
    zalo_template_id: str,
) -> bytes:
    """The shared columns' values, the same tail of every row of one call."""
    return b"".join(
        (
            _binary_int8(campaign_id),
            _binary_int8(template_id),
            _binary_text(purpose),
            _binary_text(channel),
            _binary_text(sender),
            b"\x00\x00\x00\x01" + (b"\x01" if sensitive else b"\x00"),
            _binary_timestamptz(due_at),
            _binary_int2(0),  # attempts
            _binary_text(""),  # gateway_message_id
            _binary_text(""),  # claimed_by
            _binary_timestamptz(created_at),
            _binary_text(zalo_template_id),
        )
    )


def _copy_into(cursor, table: str, rows: Iterable[bytes]) -> None:
    columns = ", ".join(_COLUMNS)
    with cursor.cursor.copy(
        f"COPY {table} ({columns}) FROM STDIN (FORMAT binary)"
    ) as copy:
        batch: list[bytes] = [_BINARY_HEADER]
        for row in rows:
            batch.append(row)
            if len(batch) >= _COPY_ROWS_PER_WRITE:
                copy.write(b"".join(batch))
                batch.clear()
        batch.append(_BINARY_TRAILER)
        copy.write(b"".join(batch))


def _write_postgresql(lines: Iterable[bytes], *, direct: bool) -> tuple[int, bool]:
    """Write COPY rows to the outbox; (rows written, whether they went in directly).

    Directly: one COPY into the outbox itself, fed while the lines are rendered, so
    PostgreSQL stores one part while Python renders the next (producing a line must
    therefore not query the database: the connection is busy with the COPY). It runs in a savepoint
    and is all or nothing: a key already there (a re-run, or a parallel enqueue of
    the same customers) makes it fail, and the lines then go the safe way: COPY into
    a session-temporary table and INSERT … ON CONFLICT DO NOTHING, so the dedupe
    constraint decides which rows are new.
    """
    done: list[bytes] = []

    def kept():
        for line in lines:
            done.append(line)
            yield line

    if direct:
        try:
            with (
                transaction.atomic(),
                connection.wrap_database_errors,
                connection.cursor() as cursor,
            ):
                _copy_into(cursor, "messaging_message", kept())
            return len(done), True
        except IntegrityError:
            pass
    done.extend(lines)
    columns = ", ".join(_COLUMNS)
    with connection.cursor() as cursor:
        cursor.execute(
            "CREATE TEMP TABLE IF NOT EXISTS messaging_outbox_stage "
            f"ON COMMIT DELETE ROWS AS SELECT {columns} FROM messaging_message "
            "WITH NO DATA"
        )
        cursor.execute("TRUNCATE messaging_outbox_stage")
        _copy_into(cursor, "messaging_outbox_stage", done)
        cursor.execute(
            f"INSERT INTO messaging_message ({columns}) "
            f"SELECT {columns} FROM messaging_outbox_stage ORDER BY msisdn "
            "ON CONFLICT DO NOTHING"
        )
        return cursor.rowcount, False


def _write_portable(rows: Iterable[tuple]) -> int:
    before = Message.objects.count()
    Message.objects.bulk_create(
        [Message(**dict(zip(_COLUMNS, row, strict=True))) for row in rows],
        ignore_conflicts=True,
        batch_size=500,
    )
    return Message.objects.count() - before


def _lock_for_key_share(table: str, pk: int | None) -> None:
    """Keep the row from being deleted until commit: what a foreign key would do.

    The outbox's campaign and template columns carry no database foreign key: its
    check ran once per inserted row and cost as much as the insert itself. One lock
    per call gives the same guarantee for every row it writes.
    """
    if pk is None or connection.vendor != "postgresql":
        return
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT 1 FROM {table} WHERE id = %s FOR KEY SHARE", [pk])
        if cursor.fetchone() is None:
            raise DomainError(_("The campaign or template was deleted meanwhile."))


def _queued_row_maker(
    *, template: MessageTemplate, seal, shared: bytes, sequence: int
) -> Callable[[str, Mapping], bytes | None] | None:
    """A function giving the COPY row of one ordinary message, or None.

    The bulk enqueue spends most of its time here, once per customer: this is
    `_render` + `_copy_row` for the common case only (a valid number, nobody
    blocked or capped, an SMS template, a text within its segment limit), written
    as one tight loop over the template's pieces. Any other case, or a missing
    value, answers None and the caller takes the general path, which says why.
    """
    prepared = template._prepared()
    if not prepared.simple or template.channel != Channel.SMS:
        return None
    pieces_template = list(zip(prepared.literals, prepared.names, strict=True))
    password_at = [
        2 * index + 1
        for index, (_literal, name) in enumerate(pieces_template)
        if name == "password"
    ]
    sensitive = bool(password_at)
    strip = template.strip_diacritics
    measure = prepared.measure.info
    max_segments = template.max_segments
    encodings = {name: _binary_text(name) for name in (encoding.GSM7, encoding.UCS2)}
    sequence_field = _binary_int8(sequence)
    # status queued, last_error empty, no ZNS values, then the shared columns
    tail = _binary_text(Status.QUEUED.value) + _binary_text("") + _NULL + shared
    length = _LENGTH

    def row_of(number: str, row: Mapping) -> bytes | None:
        pieces = []
        inserted = []
        for literal, name in pieces_template:
            pieces.append(literal)
            if name is None:
                continue
            value = "0" + number[2:] if name == "msisdn" else row.get(name)
            if value is None or value == "":
                return None
            if type(value) is not str:
                value = format_value(value)
            if strip:
                value = encoding.strip_diacritics(value)
            pieces.append(value)
            inserted.append(value)
        text = "".join(pieces)
        info = measure(text, inserted)
        if info.segments > max_segments:
            return None
        if sensitive:
            sealed = seal(text)
            sealed_field = length(len(sealed)) + sealed
            for index in password_at:
                pieces[index] = MASK
            body = "".join(pieces).encode()
        else:
            sealed_field, body = _NULL, text.encode()
        row_sequence = row.get("sequence")
        return b"".join(
            (
                _FIELD_COUNT,
                b"\x00\x00\x00\x0b",  # the 11 digits of the number
                number.encode(),
                sequence_field if row_sequence is None else _binary_int8(row_sequence),
                length(len(body)),
                body,
                sealed_field,
                encodings[info.encoding],
                _binary_int2(info.segments),
                tail,
            )
        )

    return row_of


@transaction.atomic
def messages_enqueue_bulk(
    *,
    campaign: Campaign,
    purpose: str,
    recipients: Iterable[Mapping],
    sequence: int = 1,
    variant: str = "",
    channel: str = Channel.SMS,
    event_at: datetime | None = None,
    due_at: datetime | None = None,
    chunk_size: int = 20_000,
) -> BulkResult:
    """Render and write many messages of one template, set-based, in bounded memory.

    `recipients` is any iterable (a generator over a queryset is best) of mappings
    with "msisdn" and the template's placeholder values, optionally "sequence". It is
    consumed `chunk_size` rows at a time: each chunk is checked against the
    do-not-contact list and the cap in two queries, rendered, and written in one
    COPY that skips rows whose key is already there (see `_write_postgresql`). A
    chunk of 20.000 holds about 30 MB; bigger chunks mean fewer pauses between
    COPYs. Same rules as `message_enqueue`; call it inside the caller's transaction.
    """
    template = template_for(
        campaign=campaign, purpose=purpose, variant=variant, channel=channel
    )
    _lock_for_key_share(Campaign._meta.db_table, campaign.pk)
    _lock_for_key_share(MessageTemplate._meta.db_table, template.pk)
    config = messaging_settings_for(campaign)
    now = timezone.now()
    due = _due_at(
        template=template,
        sequence=sequence,
        event_at=event_at,
        due_at=due_at,
        config=config,
        now=now,
    )
    sender = template.sender or settings.MESSAGING_DEFAULT_SENDER
    sensitive = template.sensitive
    shared = (
        campaign.pk,
        template.pk,
        purpose,
        template.channel,
        sender,
        sensitive,
        due,
        0,
        "",
        "",
        now,
        template.zalo_template_id,
    )
    postgresql = connection.vendor == "postgresql"
    shared_row = _copy_shared(
        campaign_id=campaign.pk,
        template_id=template.pk,
        purpose=purpose,
        channel=template.channel,
        sender=sender,
        sensitive=sensitive,
        due_at=due,
        created_at=now,
        zalo_template_id=template.zalo_template_id,
    )
    seal = sealing.sealer()
    by_zns = _goes_by_zns(template)
    capped = (
        config.cap_per_subscriber is not None
        and not template.exempt_from_do_not_contact
    )
    result = BulkResult()
    # After a chunk met keys already there, the next ones likely do too.
    direct = True

    def checked(chunk: list[Mapping]) -> list[tuple]:
        """(number, row, blocked, over cap) for each row, in key order.

        Eager, not a generator: its two queries must run before the chunk's COPY
        starts, as the connection can do nothing else while a COPY streams.
        """
        numbers = [msisdn_normalize(row.get("msisdn")) for row in chunk]
        valid = [number for number in numbers if number]
        blocked = set()
        if not template.exempt_from_do_not_contact and valid:
            blocked = set(
                DoNotContact.objects.filter(msisdn__in=valid).values_list(
                    "msisdn", flat=True
                )
            )
        counts = {}
        if capped and valid:
            counts = _existing_counts(campaign, valid)
        # In key order, as the unique index is: parallel enqueues of overlapping
        # customers then wait for each other instead of deadlocking.
        pairs = sorted(zip(numbers, chunk, strict=True), key=lambda p: p[0] or "")
        return [
            (
                number,
                row,
                number in blocked,
                capped
                and number is not None
                and counts.get(number, 0) >= config.cap_per_subscriber,
            )
            for number, row in pairs
        ]

    def rendered(number, row, blocked, over_cap) -> _Rendered:
        rendered = _render(
            template=template,
            msisdn_raw=row.get("msisdn"),
            msisdn=number,
            sequence=row.get("sequence", sequence),
            context={k: v for k, v in row.items() if k not in ("msisdn", "sequence")},
            blocked=blocked,
            over_cap=over_cap,
            sensitive=sensitive,
            seal=seal,
            by_zns=by_zns,
        )
        result.rows += 1
        status = rendered.status
        if status == Status.CANCELLED:
            result.cancelled += 1
        elif status == Status.HELD:
            result.held += 1
        elif status == Status.FAILED:
            result.invalid += 1
        return rendered

    queued_row = _queued_row_maker(
        template=template, seal=seal, shared=shared_row, sequence=sequence
    )

    def copy_rows(rows: list[tuple]):
        for number, row, blocked, over_cap in rows:
            if number and not blocked and not over_cap and queued_row:
                copy_row = queued_row(number, row)
                if copy_row is not None:
                    result.rows += 1
                    yield copy_row
                    continue
            yield _copy_row(rendered(number, row, blocked, over_cap), shared_row)

    def flush(chunk: list[Mapping]):
        nonlocal direct
        if postgresql:
            written, direct = _write_postgresql(
                copy_rows(checked(chunk)), direct=direct
            )
        else:
            written = _write_portable(
                (
                    rendered.msisdn,
                    rendered.sequence,
                    rendered.body,
                    rendered.sealed,
                    rendered.encoding,
                    rendered.segments,
                    rendered.status,
                    rendered.last_error,
                    rendered.template_data,
                    *shared,
                )
                for rendered in (rendered(*checks) for checks in checked(chunk))
            )
        result.written += written
        result.already_there += len(chunk) - written

    chunk: list[Mapping] = []
    for recipient in recipients:
        chunk.append(recipient)
        if len(chunk) >= chunk_size:
            flush(chunk)
            chunk = []
    if chunk:
        flush(chunk)
    return result


# --- Loyalty sign-ups ----------------------------------------------------------------


def loyalty_signup_on_call(*, msisdn: str, at: datetime | None = None) -> LoyaltySignup:
    """The customer agreed to join KNDL on a recorded call: a confirmed sign-up.

    A sign-up already requested by SMS (DK without XN) is confirmed by the call; a
    confirmed one stays as it was. Call inside the caller's transaction.
    """
    at = at or timezone.now()
    number = msisdn_normalize(msisdn) or msisdn
    signup, created = LoyaltySignup.objects.select_for_update().get_or_create(
        msisdn=number,
        defaults={
            "requested_at": at,
            "confirmed_at": at,
            "source": LoyaltySignup.Source.CALL,
        },
    )
    if not created and signup.confirmed_at is None:
        signup.confirmed_at = at
        signup.save(update_fields=["confirmed_at"])
    return signup


# --- Do-not-contact -------------------------------------------------------------------


@transaction.atomic
def do_not_contact_add(
    *, msisdn: str, source: str, note: str = "", actor=None
) -> DoNotContact:
    number = msisdn_normalize(msisdn)
    if number is None:
        raise DomainError(
            _("%(value)s is not a valid mobile number.") % {"value": msisdn}
        )
    entry, created = DoNotContact.objects.get_or_create(
        msisdn=number,
        defaults={"source": source, "note": note[:200], "created_by": actor},
    )
    if created:
        _event(kind="dnc_added", actor=actor, data={"msisdn": number, "source": source})
    return entry


@transaction.atomic
def do_not_contact_import(*, lines: Iterable[str], actor=None) -> dict:
    """Add the numbers of a list (one per line, any usual spelling)."""
    numbers, rejected = set(), []
    for line_no, line in enumerate(lines, start=1):
        text = line.strip().split(",")[0].strip()
        if not text or text.lower() in ("msisdn", "so_thue_bao", "số thuê bao"):
            continue
        number = msisdn_normalize(text)
        if number is None:
            rejected.append((line_no, text))
        else:
            numbers.add(number)
    existing = set(
        DoNotContact.objects.filter(msisdn__in=numbers).values_list("msisdn", flat=True)
    )
    DoNotContact.objects.bulk_create(
        [
            DoNotContact(
                msisdn=number, source=DoNotContact.Source.IMPORT, created_by=actor
            )
            for number in sorted(numbers - existing)
        ],
        ignore_conflicts=True,
    )
    summary = {
        "added": len(numbers - existing),
        "already_listed": len(existing),
        "rejected": rejected[:100],
        "rejected_count": len(rejected),
    }
    _event(kind="dnc_imported", actor=actor, data=summary)
    return summary


# --- Kill switch and staff actions ------------------------------------------------


@transaction.atomic
def campaign_sending_pause(*, campaign: Campaign, actor=None) -> MessagingSettings:
    """Stop a campaign's sending at once: workers release its rows unsent."""
    config, _created = MessagingSettings.objects.select_for_update().get_or_create(
        campaign=campaign
    )
    if not config.paused:
        config.paused = True
        config.paused_at = timezone.now()
        config.save(update_fields=["paused", "paused_at"])
        _event(kind="paused", actor=actor, campaign=campaign)
    return config


@transaction.atomic
def campaign_sending_resume(*, campaign: Campaign, actor=None) -> MessagingSettings:
    config, _created = MessagingSettings.objects.select_for_update().get_or_create(
        campaign=campaign
    )
    if config.paused:
        config.paused = False
        config.paused_at = None
        config.save(update_fields=["paused", "paused_at"])
        _event(kind="resumed", actor=actor, campaign=campaign)
    return config


def _locked(message_id: int) -> Message:
    return Message.objects.select_for_update().get(pk=message_id)


@transaction.atomic
def message_settle(
    *, message: Message, delivered: bool, actor=None, note: str = ""
) -> Message:
    """Staff settle a message the gateway left unknown (or a Zalo one sent by hand)."""
    locked = _locked(message.pk)
    target = Status.DELIVERED if delivered else Status.FAILED
    locked.move_to(target)
    locked.settled_at = timezone.now()
    if delivered:
        locked.sealed_body = None
    if note:
        locked.last_error = note
    locked.save()
    _event(
        kind="settled",
        actor=actor,
        campaign=locked.campaign,
        message=locked,
        data={"status": target, "note": note},
    )
    return locked


@transaction.atomic
def message_retry(*, message: Message, actor=None) -> Message:
    """Queue a failed, unknown or held message again, due now.

    For an unknown message this is the staff's decision that it did not arrive;
    the customer may receive it twice if it did.
    """
    locked = _locked(message.pk)
    previous = locked.status
    locked.move_to(Status.QUEUED)
    if locked.sensitive and not locked.sealed_body:
        raise DomainError(
            _("Message %(id)s carried a secret that was erased; it cannot be re-sent.")
            % {"id": locked.pk}
        )
    if locked.channel == Channel.ZALO and not (
        locked.zalo_template_id
        and locked.template_data is not None
        and zns_configured()
    ):
        # Queued, it would wait for a ZNS run that cannot send it.
        raise DomainError(
            _(
                "Message %(id)s cannot go through Zalo ZNS (no access token "
                "configured, or no ZNS template): an agent sends it by hand."
            )
            % {"id": locked.pk}
        )
    locked.due_at = timezone.now()
    locked.claimed_by = ""
    locked.save()
    _event(
        kind="retried",
        actor=actor,
        campaign=locked.campaign,
        message=locked,
        data={"from": previous},
    )
    return locked


@transaction.atomic
def message_cancel(*, message: Message, actor=None) -> Message:
    locked = _locked(message.pk)
    locked.move_to(Status.CANCELLED)
    locked.save()
    _event(kind="cancelled", actor=actor, campaign=locked.campaign, message=locked)
    return locked


# --- Delivery reports -------------------------------------------------------------


@dataclass
class _ReportedMessage:
    """The columns of a message a delivery report settles, read with its lock."""

    pk: int
    status: str
    segments: int


_MESSAGES = Message._meta.db_table
_REPORTS = DeliveryReport._meta.db_table
_READ_BY_ID = f"SELECT id, status, segments FROM {_MESSAGES} WHERE id = %s"
# The newest message the gateway's id names: its first part's id, or another's.
_FIND_BY_GATEWAY_ID = (
    f"SELECT id FROM {_MESSAGES} WHERE gateway_message_id = %s "
    "AND gateway_message_id <> '' "
    f"UNION ALL SELECT message_id FROM {MessagePart._meta.db_table} "
    "WHERE gateway_id = %s ORDER BY 1 DESC LIMIT 1"
)
_REPORT_INSERT = (
    f"INSERT INTO {_REPORTS} "
    "(message_id, reference, part, outcome, code, reason, received_at) "
    "VALUES (%s, %s, %s, %s, %s, %s, %s) "
    "ON CONFLICT (reference, part, outcome) DO NOTHING RETURNING id"
)
_SETTLE = (
    f"UPDATE {_MESSAGES} SET status = %s, settled_at = %s, last_error = %s, "
    "sealed_body = CASE WHEN %s THEN NULL ELSE sealed_body END WHERE id = %s"
)


# The status a final delivery report settles a message in.
_OUTCOME_TARGETS = {
    DeliveryReport.Outcome.DELIVERED: Status.DELIVERED,
    DeliveryReport.Outcome.FAILED: Status.FAILED,
    DeliveryReport.Outcome.REJECTED: Status.FAILED,
    DeliveryReport.Outcome.EXPIRED: Status.EXPIRED,
}


def _settle_from_reports(
    cursor, message: _ReportedMessage, report: DeliveryReport
) -> None:
    """Move `message` to the status its delivery reports add up to, if any.

    `report` has just been stored. A report that names no part, or one for a message
    of one part, speaks for the whole message; the reports of a long message's
    parts are read together (the message row is locked, so two parts reporting at
    once are counted in turn).
    """
    if report.part == "" or message.segments <= 1:
        reports = [(report.part, report.outcome, report.reason)]
    else:
        reports = list(
            DeliveryReport.objects.filter(message_id=message.pk).values_list(
                "part", "outcome", "reason"
            )
        )
    final_failure = [
        (outcome, reason)
        for _part, outcome, reason in reports
        if _OUTCOME_TARGETS.get(outcome) in (Status.FAILED, Status.EXPIRED)
    ]
    delivered_parts = {
        part
        for part, outcome, _reason in reports
        if outcome == DeliveryReport.Outcome.DELIVERED
    }
    last_error = ""
    if final_failure:
        outcome, reason = final_failure[0]
        target = _OUTCOME_TARGETS[outcome]
        last_error = reason or outcome
    elif "" in delivered_parts or len(delivered_parts) >= max(message.segments, 1):
        target = Status.DELIVERED
    else:
        return
    if message.status == target:
        return
    if target not in Message.TRANSITIONS[Status(message.status)]:
        return
    # A delivered message no longer needs its sealed text (the password in it).
    cursor.execute(
        _SETTLE,
        [target, timezone.now(), last_error, target == Status.DELIVERED, message.pk],
    )


# On PostgreSQL a report for one of our messages is one statement: lock the message,
# store the report unless the gateway repeated it, and settle the message when the
# report speaks for all of it (one part, or no part named). Reports come one HTTP
# request each, as fast as messages go out: a single statement in autocommit is one
# round trip and one commit, where the ORM would take a dozen.
_REPORT_ONE_STATEMENT = f"""
WITH target AS (
    SELECT id, segments FROM {_MESSAGES} WHERE id = %(message)s FOR UPDATE
), report AS (
    INSERT INTO {_REPORTS}
        (message_id, reference, part, outcome, code, reason, received_at)
    VALUES ((SELECT id FROM target), %(reference)s, %(part)s, %(outcome)s,
            %(code)s, %(reason)s, %(at)s)
    ON CONFLICT (reference, part, outcome) DO NOTHING
    RETURNING id
), settled AS (
    UPDATE {_MESSAGES} m SET status = %(target)s, settled_at = %(at)s,
        last_error = %(error)s,
        sealed_body = CASE WHEN %(delivered)s THEN NULL ELSE m.sealed_body END
    FROM target t
    WHERE m.id = t.id AND EXISTS (SELECT 1 FROM report)
      AND (t.segments <= 1 OR %(part)s = '') AND m.status = ANY(%(sources)s)
    RETURNING m.id
)
SELECT (SELECT id FROM report), (SELECT id FROM target), (SELECT segments FROM target)
"""


def _statuses_that_may_become(target: str | None) -> list[str]:
    if target is None:
        return []
    return [
        str(source)
        for source, targets in Message.TRANSITIONS.items()
        if target in targets
    ]


def _report_in_one_statement(
    report: DeliveryReport, message_id: int
) -> DeliveryReport | None:
    """Store and settle in one statement (PostgreSQL); None if the report is a repeat."""
    target = _OUTCOME_TARGETS.get(report.outcome)
    with connection.cursor() as cursor:
        cursor.execute(
            _REPORT_ONE_STATEMENT,
            {
                "message": message_id,
                "reference": report.reference,
                "part": report.part,
                "outcome": report.outcome,
                "code": report.code,
                "reason": report.reason,
                "at": report.received_at,
                "target": target or "",
                "error": ""
                if target in (None, Status.DELIVERED)
                else (report.reason or report.outcome),
                "delivered": target == Status.DELIVERED,
                "sources": _statuses_that_may_become(target),
            },
        )
        report_id, found, segments = cursor.fetchone()
    if report_id is None:
        return None
    report.pk = report_id
    report.message_id = found
    if found is None:
        logger.warning("Delivery report for unknown message %s", report.reference)
    elif segments > 1 and report.part:
        # One part of a long message. Its report is committed before the parts are
        # counted, so the last part to arrive sees every other; the lock keeps two
        # parts that arrive together from settling the message at the same time.
        with transaction.atomic(), connection.cursor() as cursor:
            cursor.execute(_READ_BY_ID + " FOR UPDATE", [found])
            _settle_from_reports(cursor, _ReportedMessage(*cursor.fetchone()), report)
    return report


def _is_message_id(reference: str) -> bool:
    """Whether a report's reference can be one of our ids (a bigint)."""
    return reference.isdigit() and len(reference) <= 18


def delivery_report_record(
    *,
    reference: str,
    outcome: str,
    part: str = "",
    code: str = "",
    reason: str = "",
    by_gateway_id: bool = False,
) -> DeliveryReport:
    """Store one delivery report and settle its message once all parts have reported.

    `reference` is our message id (Kannel's dlr-url carries it) or, with
    `by_gateway_id`, the id the gateway gave at submit (SMPP). A report naming no
    known message is kept without one; the same report twice is stored once.
    """
    report = DeliveryReport(
        reference=str(reference)[:100],
        part=(part or "")[:100],
        outcome=outcome,
        code=(code or "")[:20],
        reason=reason or "",
    )
    if (
        connection.vendor == "postgresql"
        and not by_gateway_id
        and _is_message_id(report.reference)
    ):
        stored = _report_in_one_statement(report, int(report.reference))
        if stored is not None:
            return stored
        return DeliveryReport.objects.get(
            reference=report.reference, part=report.part, outcome=outcome
        )
    with transaction.atomic(), connection.cursor() as cursor:
        message = None
        message_id = None
        if by_gateway_id:
            cursor.execute(_FIND_BY_GATEWAY_ID, [report.reference] * 2)
            found = cursor.fetchone()
            message_id = found[0] if found else None
        elif _is_message_id(report.reference):
            message_id = int(report.reference)
        if message_id is not None:
            # SQLite (the demo) has no row locks: its writers queue for the file.
            lock = " FOR UPDATE" if connection.features.has_select_for_update else ""
            cursor.execute(_READ_BY_ID + lock, [message_id])
            row = cursor.fetchone()
            message = _ReportedMessage(*row) if row else None
        cursor.execute(
            _REPORT_INSERT,
            [
                message.pk if message else None,
                report.reference,
                report.part,
                report.outcome,
                report.code,
                report.reason,
                report.received_at,
            ],
        )
        inserted = cursor.fetchone()
        if inserted is None:
            # The gateway repeated a report: the first one stands, nothing changes.
            return DeliveryReport.objects.get(
                reference=report.reference, part=report.part, outcome=outcome
            )
        report.pk = inserted[0]
        report.message_id = message.pk if message else None
        if message is not None:
            _settle_from_reports(cursor, message, report)
        else:
            logger.warning("Delivery report for unknown message %s", reference)
    return report


# --- Inbound ------------------------------------------------------------------------


@transaction.atomic
def inbound_receive(
    *, gateway_id: str, msisdn: str, short_code: str, text: str
) -> tuple[InboundMessage, bool]:
    """Store an SMS from a customer and route it by keyword; (row, created).

    A message the gateway delivers twice (same gateway id) is stored and handled
    once: the second call returns the first row and does nothing.
    """
    from messaging import keywords

    number = msisdn_normalize(msisdn) or str(msisdn)[:15]
    inbound = InboundMessage(
        gateway_id=str(gateway_id)[:100],
        msisdn=number,
        short_code=str(short_code or "")[:20],
        text=text or "",
        keyword=keywords.keyword_of(text or ""),
    )
    try:
        with transaction.atomic():
            inbound.save()
    except IntegrityError:
        return InboundMessage.objects.get(gateway_id=inbound.gateway_id), False
    keywords.route(inbound)
    inbound.save(update_fields=["outcome", "note"])
    return inbound, True


def reply_enqueue(
    *, inbound: InboundMessage, purpose: str, variant: str, default_text: str
) -> Message:
    """Answer an inbound SMS through the outbox, from the portal's template if any.

    Replies are service messages: a customer who just wrote to us gets the answer,
    even one who has just opted out (the answer confirms it).
    """
    template = MessageTemplate.objects.filter(
        campaign__isnull=True,
        purpose=purpose,
        variant=variant,
        channel=Channel.SMS,
    ).first() or MessageTemplate(
        purpose=purpose,
        variant=variant,
        body=default_text,
        strip_diacritics=True,
        exempt_from_do_not_contact=True,
        max_segments=3,
    )
    text = template.render({"msisdn": "0" + inbound.msisdn[2:]})
    info = encoding.text_info(text)
    key = {
        "campaign": None,
        "msisdn": inbound.msisdn,
        "purpose": purpose,
        "sequence": inbound.pk,
    }
    message, _created = Message.objects.get_or_create(
        **key,
        defaults={
            "template": template if template.pk else None,
            "channel": Channel.SMS,
            "sender": template.sender
            or inbound.short_code
            or settings.MESSAGING_DEFAULT_SENDER,
            "body": text,
            "encoding": info.encoding,
            "segments": info.segments,
            "due_at": timezone.now(),
        },
    )
    return message


# --- Dispatch -----------------------------------------------------------------------


@dataclass
class DispatchResult:
    claimed: int = 0
    submitted: int = 0
    delivered: int = 0
    retried: int = 0
    failed: int = 0
    unknown: int = 0
    released: int = 0
    recovered: int = 0
    batches: int = 0
    errors: list[str] = field(default_factory=list)

    def add(self, other: DispatchResult) -> None:
        for name in self.__dataclass_fields__:
            if name == "errors":
                self.errors.extend(other.errors)
            else:
                setattr(self, name, getattr(self, name) + getattr(other, name))


def blocked_campaign_ids(now: datetime) -> set[int]:
    """Campaigns whose messages must not go out now: paused, or outside the window."""
    blocked = set()
    for config in MessagingSettings.objects.all():
        if config.paused or not config.in_window(now):
            blocked.add(config.campaign_id)
    # Campaigns without settings use the default window.
    default = MessagingSettings()
    if not default.in_window(now):
        blocked.update(
            Campaign.objects.filter(messaging_settings__isnull=True).values_list(
                "pk", flat=True
            )
        )
    return blocked


def messages_claim(
    *, worker: str, batch_size: int, now: datetime, channel: str = Channel.SMS
) -> list[int]:
    """Claim up to `batch_size` due messages of `channel` for `worker`.

    In one short transaction. Each channel has its own backend: an SMS gateway must
    never get a Zalo message, nor ZNS an SMS.
    """
    blocked = blocked_campaign_ids(now)
    queryset = Message.objects.due(now).filter(channel=channel)
    if blocked:
        queryset = queryset.exclude(campaign_id__in=blocked)
    with transaction.atomic():
        # Rows are locked in primary-key order so that two workers never wait on
        # each other in opposite orders; SKIP LOCKED lets each take what the others
        # have not, without blocking.
        ids = list(
            queryset.order_by("pk")
            .select_for_update(skip_locked=True)
            .values_list("pk", flat=True)[:batch_size]
        )
        if ids:
            Message.objects.filter(pk__in=ids).update(
                status=Status.CLAIMED,
                claimed_by=worker,
                claimed_at=now,
                attempts=F("attempts") + 1,
            )
    return ids


# The lock that says a dispatch run is alive: a PostgreSQL session advisory lock,
# held on a connection of its own for as long as the run lasts. When the process
# dies, PostgreSQL closes the connection and frees the lock, so another worker knows
# at once that the rows the run had claimed are orphans. (Django's own connection is
# closed by Celery between tasks, which would drop a session lock.)


def _lock_key(worker: str) -> int:
    return zlib.crc32(f"messaging-worker:{worker}".encode())


def _liveness_connection():
    import psycopg

    params = connection.get_connection_params()
    for key in (
        "cursor_factory",
        "context",
        "prepare_threshold",
        "server_side_binding",
    ):
        params.pop(key, None)
    return psycopg.connect(**params, autocommit=True)


@contextmanager
def _worker_session():
    worker = f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"
    liveness = None
    if connection.vendor == "postgresql":
        liveness = _liveness_connection()
        liveness.execute("SELECT pg_advisory_lock(%s)", [_lock_key(worker)])
    try:
        yield worker
    finally:
        if liveness is not None:
            liveness.close()  # frees the lock


def _worker_alive(worker: str) -> bool:
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_try_advisory_lock(%s)", [_lock_key(worker)])
        (free,) = cursor.fetchone()
        if free:
            cursor.execute("SELECT pg_advisory_unlock(%s)", [_lock_key(worker)])
    return not free


def messages_recover_orphans(*, me: str, now: datetime) -> int:
    """Queue again the rows a dead dispatch run had claimed and not finished.

    Results are written one message at a time as the gateway answers, so of an
    orphaned batch at most the message in flight at the moment of death may
    already have reached the gateway; every other row was never handed over.
    """
    workers = (
        Message.objects.filter(status=Status.CLAIMED)
        .exclude(claimed_by=me)
        .values_list("claimed_by", flat=True)
        .distinct()
    )
    recovered = 0
    for worker in list(workers):
        if connection.vendor == "postgresql":
            if _worker_alive(worker):
                continue
            stale = Message.objects.filter(status=Status.CLAIMED, claimed_by=worker)
        else:
            lease = now - timedelta(seconds=settings.MESSAGING_CLAIM_LEASE_SECONDS)
            stale = Message.objects.filter(
                status=Status.CLAIMED, claimed_by=worker, claimed_at__lt=lease
            )
        recovered += stale.update(
            status=Status.QUEUED,
            claimed_by="",
            last_error=_("The dispatch worker stopped mid-batch; queued again."),
        )
    if recovered:
        logger.warning("Queued again %s messages of stopped dispatch runs", recovered)
    return recovered


def _outgoing(message: Message) -> OutgoingMessage:
    return OutgoingMessage(
        id=message.pk,
        msisdn=message.msisdn,
        sender=message.sender,
        text=message.full_text(),
        encoding=message.encoding,
        segments=message.segments,
        channel=message.channel,
        template_id=message.zalo_template_id,
        template_data=message.template_data,
    )


def _backoff(attempts: int) -> timedelta:
    base = settings.MESSAGING_RETRY_BACKOFF_SECONDS
    return timedelta(seconds=min(base * 2 ** max(attempts - 1, 0), 3600))


def _record_submitted(accepted: list[tuple[int, str, tuple[str, ...]]]) -> None:
    """Mark many accepted submissions as submitted in one UPDATE.

    A delivery report may have come back before this runs (and settled the row);
    only a row still claimed becomes submitted. The gateway's ids of long messages'
    other parts are kept so that their receipts find the message.
    """
    if not accepted:
        return
    MessagePart.objects.bulk_create(
        [
            MessagePart(message_id=pk, gateway_id=part_id)
            for pk, _gateway_id, part_ids in accepted
            for part_id in part_ids
        ]
    )
    Message.objects.filter(pk__in=[pk for pk, _gateway_id, _parts in accepted]).update(
        status=Case(
            When(status=Status.CLAIMED, then=Value(Status.SUBMITTED)),
            default=F("status"),
        ),
        submitted_at=timezone.now(),
        gateway_message_id=Case(
            *[When(pk=pk, then=Value(gateway_id)) for pk, gateway_id, _ in accepted],
            default=F("gateway_message_id"),
        ),
        last_error="",
    )


def _record(message: Message, result: SendResult, outcome: DispatchResult) -> None:
    now = timezone.now()
    mine = Message.objects.filter(pk=message.pk)
    if result.status == SendResult.ACCEPTED:
        _record_submitted(
            [(message.pk, result.gateway_id or str(message.pk), result.part_ids)]
        )
        outcome.submitted += 1
        if result.delivered:
            delivery_report_record(
                reference=str(message.pk),
                outcome=DeliveryReport.Outcome.DELIVERED,
                part=result.gateway_id or "",
            )
            outcome.delivered += 1
    elif result.status == SendResult.TEMPORARY:
        if message.attempts >= settings.MESSAGING_MAX_ATTEMPTS:
            mine.filter(status=Status.CLAIMED).update(
                status=Status.FAILED,
                settled_at=now,
                last_error=_("Gave up after %(n)s attempts: %(error)s")
                % {"n": message.attempts, "error": result.error},
            )
            outcome.failed += 1
        else:
            mine.filter(status=Status.CLAIMED).update(
                status=Status.QUEUED,
                claimed_by="",
                due_at=now + _backoff(message.attempts),
                last_error=result.error,
            )
            outcome.retried += 1
    elif result.status == SendResult.PERMANENT:
        mine.filter(status=Status.CLAIMED).update(
            status=Status.FAILED, settled_at=now, last_error=result.error
        )
        outcome.failed += 1
    else:  # TIMEOUT: it may have been sent; never send it again blindly.
        mine.filter(status=Status.CLAIMED).update(
            status=Status.UNKNOWN,
            last_error=result.error
            or _("The gateway did not answer in time; waiting for its report."),
        )
        outcome.unknown += 1


def _release(ids: list[int], *, undo_attempt: bool, error: str = "") -> int:
    if not ids:
        return 0
    updates = {"status": Status.QUEUED, "claimed_by": ""}
    if undo_attempt:
        updates["attempts"] = F("attempts") - 1
    if error:
        updates["last_error"] = error
    return Message.objects.filter(pk__in=ids, status=Status.CLAIMED).update(**updates)


# How many accepted submissions a worker writes in one statement.
SUBMITTED_GROUP = 50


def messages_dispatch_batch(
    *, ids: list[int], backend, limiter, should_stop=None
) -> DispatchResult:
    """Hand claimed messages to the gateway at the shared rate.

    Up to `backend.concurrency` submissions are in flight at once (HTTP gateways
    answer in milliseconds but one at a time would leave the rate cap unused); each
    result is written by this thread as soon as the gateway answers, so a killed
    worker can only have sent, unrecorded, what was in flight. Messages of a
    campaign paused meanwhile (kill switch) go back to the queue unsent, as does the
    rest of the batch when the gateway is down or the run is asked to stop.
    """
    outcome = DispatchResult(claimed=len(ids), batches=1)
    backend.limiter = limiter
    messages = list(Message.objects.filter(pk__in=ids).order_by("pk"))
    width = max(1, int(getattr(backend, "concurrency", 1)))
    in_flight: deque = deque()
    # Accepted submissions are written a group at a time: one UPDATE and commit per
    # group instead of per message, which at hundreds a second is most of a worker's
    # time. A killed worker leaves its unwritten group claimed, like the rest of the
    # batch in hand, and only that batch can be sent again.
    accepted: list[tuple[int, str, tuple[str, ...]]] = []
    checked_at = 0.0
    blocked: set[int] = set()
    gateway_down = False
    tokens = 0

    def flush_accepted() -> None:
        _record_submitted(accepted)
        accepted.clear()

    def settle_oldest() -> None:
        nonlocal gateway_down
        message, future = in_flight.popleft()
        result = future.result() if hasattr(future, "result") else future
        if result.status == SendResult.ACCEPTED and not result.delivered:
            accepted.append(
                (message.pk, result.gateway_id or str(message.pk), result.part_ids)
            )
            outcome.submitted += 1
            if len(accepted) >= SUBMITTED_GROUP:
                flush_accepted()
            return
        flush_accepted()
        _record(message, result, outcome)
        if result.status == SendResult.TEMPORARY and result.gateway_down:
            if not gateway_down:
                outcome.errors.append(result.error)
            gateway_down = True

    try:
        with (
            ThreadPoolExecutor(max_workers=width)
            if width > 1
            else nullcontext() as pool
        ):
            for index, message in enumerate(messages):
                if gateway_down:
                    outcome.released += _release(
                        [m.pk for m in messages[index:]],
                        undo_attempt=True,
                        error=outcome.errors[-1],
                    )
                    break
                if (
                    time.monotonic() - checked_at
                    > settings.MESSAGING_KILL_SWITCH_CHECK_SECONDS
                ):
                    blocked = blocked_campaign_ids(timezone.now())
                    checked_at = time.monotonic()
                if message.campaign_id in blocked:
                    outcome.released += _release([message.pk], undo_attempt=True)
                    continue
                if tokens == 0:
                    # Tokens come from the shared limiter a pool's worth at a time:
                    # one Redis call per few messages instead of one each.
                    wanted = min(width, len(messages) - index, limiter.most_at_once)
                    if (should_stop and should_stop()) or not limiter.acquire(
                        wanted, should_stop=should_stop
                    ):
                        outcome.released += _release(
                            [m.pk for m in messages[index:]], undo_attempt=True
                        )
                        break
                    tokens = wanted
                tokens -= 1
                try:
                    outgoing = _outgoing(message)
                except (DomainError, sealing.SealError) as exc:
                    in_flight.append((message, SendResult.permanent(str(exc))))
                else:
                    if pool is None:
                        in_flight.append((message, backend.send(outgoing)))
                    else:
                        in_flight.append((message, pool.submit(backend.send, outgoing)))
                # Results are written in the order of submission: the oldest first.
                while in_flight and (
                    len(in_flight) >= width
                    or not hasattr(in_flight[0][1], "result")
                    or in_flight[0][1].done()
                ):
                    settle_oldest()
            while in_flight:
                settle_oldest()
    finally:
        # Whatever stops the batch, what the gateway accepted is written first, so
        # the caller's release of the batch cannot queue it to be sent again.
        flush_accepted()
    return outcome


def _channel_limiter(channel: str):
    """The channel's own cap: ZNS has a quota apart from the SMS gateway's."""
    if channel == Channel.ZALO:
        return gateway_limiter(
            rate=float(zalo_settings()["RATE_PER_SECOND"]),
            key=f"{settings.MESSAGING_RATE_KEY}:zalo",
        )
    return gateway_limiter()


def dispatch_run(
    *,
    channel: str = Channel.SMS,
    backend=None,
    limiter=None,
    batch_size: int | None = None,
    max_seconds: float | None = None,
    idle_exit: bool = True,
    poll_seconds: float = 1.0,
    should_stop=None,
) -> DispatchResult:
    """Claim and send due messages of `channel` until none is due (or time is up).

    Several runs may go at once, in any processes: they share the channel's rate
    limiter and never claim the same row. Without a ZNS access token a Zalo run does
    nothing: no Zalo message is queued for ZNS then, and any queued by hand wait.
    """
    if channel == Channel.ZALO and backend is None and not zns_configured():
        return DispatchResult()
    own_backend = backend is None
    backend = backend or get_backend(channel=channel)
    limiter = limiter or _channel_limiter(channel)
    batch_size = batch_size or settings.MESSAGING_BATCH_SIZE
    started = time.monotonic()
    total = DispatchResult()

    def out_of_time() -> bool:
        if should_stop and should_stop():
            return True
        return max_seconds is not None and time.monotonic() - started > max_seconds

    try:
        with _worker_session() as worker:
            while not out_of_time():
                now = timezone.now()
                total.recovered += messages_recover_orphans(me=worker, now=now)
                ids = messages_claim(
                    worker=worker, batch_size=batch_size, now=now, channel=channel
                )
                if not ids:
                    if idle_exit:
                        break
                    time.sleep(poll_seconds)
                    continue
                try:
                    batch = messages_dispatch_batch(
                        ids=ids,
                        backend=backend,
                        limiter=limiter,
                        should_stop=out_of_time,
                    )
                except BaseException:
                    # Nothing after the failing message was handed over: put it back.
                    _release(ids, undo_attempt=True)
                    raise
                total.add(batch)
                if batch.errors and batch.released:
                    # The gateway is down: give it a moment rather than spinning.
                    time.sleep(poll_seconds)
    finally:
        # A gateway connection this run opened (an SMPP bind) ends with it.
        if own_backend:
            backend.close()
    return total


# --- Zalo OA token -------------------------------------------------------------------


class ZaloTokenRefreshFailed(DomainError):
    """The OA token pair could not be renewed; the old pair is kept."""


def zalo_oa_token_store(
    *,
    app_id: str,
    access_token: str = "",
    refresh_token: str = "",
    actor=None,
) -> ZaloOaToken:
    """Store a token pair staff got from Zalo; an empty token keeps the stored one.

    A new access token's expiry is unknown, so the next refresh round renews it.
    """
    with transaction.atomic():
        token, _created = ZaloOaToken.objects.select_for_update().get_or_create(
            app_id=app_id
        )
        token.store(
            access_token=access_token, refresh_token=refresh_token, expires_at=None
        )
        if refresh_token:
            token.last_refresh_error = ""
        token.save()
        _event(
            kind="zalo_token_stored",
            actor=actor,
            data={
                "app_id": app_id,
                "access_token": bool(access_token),
                "refresh_token": bool(refresh_token),
            },
        )
    return token


def zalo_oa_token_refresh(
    *,
    due_within: timedelta | None = None,
    replacing: str | None = None,
    actor=None,
) -> bool:
    """Spend the stored refresh token for a new pair; True if the pair was renewed.

    The row is locked (SELECT ... FOR UPDATE) from reading the refresh token until
    the new pair is written: Zalo's refresh token can be spent once, so a second
    worker waits and then finds the new pair. The conditions are checked under the
    lock for that reason: with `due_within`, only a token expiring within that time
    is renewed (beat); with `replacing`, only if the stored access token is still
    that one (a send ZNS refused with -124). False when the condition no longer
    holds. A refusal is recorded on the row, the old pair kept, and raised as
    ZaloTokenRefreshFailed once committed.
    """
    config = zalo_settings()
    if not zalo.token_refresh_configured(config):
        raise ZaloTokenRefreshFailed(
            _("Zalo token refresh needs MESSAGING_ZALO_APP_ID and _APP_SECRET.")
        )
    failure = ""
    with transaction.atomic():
        token = (
            ZaloOaToken.objects.select_for_update()
            .filter(app_id=config["APP_ID"])
            .first()
        )
        if token is None or not token.sealed_refresh_token:
            raise ZaloTokenRefreshFailed(
                _("No Zalo refresh token is stored: enter one in the admin.")
            )
        now = timezone.now()
        if due_within is not None and not token.refresh_due(now=now, within=due_within):
            return False
        try:
            if replacing is not None and token.access_token() != replacing:
                return False
            pair = zalo.request_token_refresh(
                refresh_token=token.refresh_token(), config=config
            )
        except (zalo.TokenRefreshError, sealing.SealError) as exc:
            failure = str(exc)
            # For whoever watches the logs; staff see it on every admin page.
            logger.error("Zalo OA token refresh refused: %s", failure)
            token.record_refresh_failure(error=failure, now=timezone.now())
            token.save()
            _event(
                kind="zalo_token_refresh_failed", actor=actor, data={"error": failure}
            )
        else:
            token.record_refresh(
                access_token=pair.access_token,
                refresh_token=pair.refresh_token,
                expires_in=pair.expires_in,
                now=timezone.now(),
            )
            token.save()
            _event(
                kind="zalo_token_refreshed",
                actor=actor,
                data={"expires_at": token.expires_at.isoformat()},
            )
    if failure:
        logger.warning("Zalo OA token refresh failed: %s", failure)
        raise ZaloTokenRefreshFailed(failure)
    return True

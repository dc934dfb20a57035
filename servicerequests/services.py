"""Writes of the home SIM-swap flow: one atomic, audited function per state change."""

from __future__ import annotations

import json
import re
from collections import Counter
from datetime import date, datetime
from pathlib import Path

from django.db import IntegrityError, connection, transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from campaigns.models import Campaign
from eligibility.models import DomainError, Subscriber
from eligibility.spreadsheets import UnreadableFile, open_table
from messaging.encoding import strip_diacritics
from messaging.services import msisdn_normalize
from servicerequests import selectors
from servicerequests.models import (
    Allocation,
    IvrImport,
    ServiceRequest,
    ServiceRequestEvent,
    Source,
    StaffScope,
    Status,
)

Kind = ServiceRequestEvent.Kind


def _event(
    *,
    request: ServiceRequest,
    kind: str,
    actor=None,
    from_status: str = "",
    data: dict | None = None,
) -> ServiceRequestEvent:
    return ServiceRequestEvent.objects.create(
        request=request,
        kind=kind,
        from_status=from_status,
        to_status=request.status,
        actor=actor if actor is not None and actor.is_authenticated else None,
        data=data or {},
    )


def _locked(request: ServiceRequest) -> ServiceRequest:
    return ServiceRequest.objects.select_for_update().get(pk=request.pk)


def _subscriber_address(campaign: Campaign, msisdn: str) -> str:
    if campaign.snapshot_id is None:
        return ""
    return (
        Subscriber.objects.filter(snapshot=campaign.snapshot_id, msisdn=msisdn)
        .values_list("address", flat=True)
        .first()
        or ""
    )


# --- Registration -------------------------------------------------------------------


@transaction.atomic
def request_register(
    *,
    campaign: Campaign,
    msisdn: str,
    source: str,
    full_name: str = "",
    address: str = "",
    preferred_time: str = "",
    registered_at: datetime | None = None,
    actor=None,
) -> tuple[ServiceRequest, bool]:
    """Record a home-visit request; (request, created).

    The number is checked against the campaign's list once, here; an ineligible
    request is kept with the reason and goes no further. A number that already has
    an open request gets no second one: the request it has is returned, and the
    repeat is written in its history.
    """
    number = msisdn_normalize(msisdn)
    if number is None:
        raise DomainError(
            _("%(value)s is not a Vietnamese mobile number.") % {"value": msisdn}
        )
    registered_at = registered_at or timezone.now()
    existing = (
        ServiceRequest.objects.select_for_update()
        .open()
        .filter(campaign=campaign, msisdn=number)
        .first()
    )
    if existing is not None:
        _event(
            request=existing,
            kind=Kind.REPEATED,
            actor=actor,
            from_status=existing.status,
            data={"source": source},
        )
        return existing, False
    check = selectors.eligibility_check(
        campaign=campaign, msisdn=number, on=timezone.localtime(registered_at).date()
    )
    member = check.member
    request = ServiceRequest(
        campaign=campaign,
        msisdn=number,
        source=source,
        status=Status.NEW if check.eligible else Status.INELIGIBLE,
        full_name=(full_name or (member.full_name if member else ""))[:200],
        address=(address or _subscriber_address(campaign, number))[:300],
        province=member.province if member else "",
        district=member.district if member else "",
        preferred_time=preferred_time[:200],
        run=check.run,
        list_name=member.list_name if member else "",
        phase=member.phase if member else None,
        ineligible_reason=check.reason[:300],
        registered_at=registered_at,
    )
    request.set_deadlines()
    try:
        with transaction.atomic():
            request.save()
    except IntegrityError:
        # The same number registered at the same moment through another channel.
        return ServiceRequest.objects.open().get(
            campaign=campaign, msisdn=number
        ), False
    _event(
        request=request,
        kind=Kind.REGISTERED,
        actor=actor,
        data={"source": source, "reason": check.reason},
    )
    return request, True


# Customer-facing replies to TSTN (Vietnamese without marks, like the portal's other
# SMS); staff override them with portal-wide templates of purpose "other" and these
# variants in the messaging admin.
SMS_REPLIES = {
    "tstn": (
        "(CSKH) MobiFone da nhan yeu cau thay SIM 4G tai nha cua Quy khach. Tong dai "
        "9090 se lien he xac nhan dia chi trong vong 48 gio. Tran trong cam on."
    ),
    "tstn_again": (
        "(CSKH) Yeu cau thay SIM 4G tai nha cua Quy khach da duoc ghi nhan truoc do "
        "va dang duoc xu ly. Chi tiet goi 9090."
    ),
    "tstn_ineligible": (
        "(CSKH) Rat tiec, thue bao cua Quy khach chua thuoc doi tuong chuong trinh "
        "thay SIM 4G tai nha. Quy khach vui long den cua hang MobiFone gan nhat hoac "
        "goi 9090."
    ),
    "tstn_closed": (
        "(CSKH) Chuong trinh thay SIM 4G tai nha hien chua trien khai. Chi tiet goi "
        "9090."
    ),
}


def sms_request_receive(inbound) -> str:
    """The TSTN keyword handler: register the sender and answer through the outbox.

    Runs inside `messaging.services.inbound_receive`'s transaction, so the request,
    its history and the reply commit together with the inbound message.
    """
    from messaging.models import InboundMessage, Purpose
    from messaging.services import reply_enqueue

    campaign = selectors.campaign_for_requests()
    if campaign is None:
        variant = "tstn_closed"
        inbound.note = "no SIM-swap campaign takes requests"
    else:
        request, created = request_register(
            campaign=campaign,
            msisdn=inbound.msisdn,
            source=Source.SMS,
            registered_at=inbound.received_at,
        )
        if not created:
            variant = "tstn_again"
        elif request.status == Status.INELIGIBLE:
            variant = "tstn_ineligible"
        else:
            variant = "tstn"
        inbound.note = f"service request {request.pk}: {variant}"
    reply_enqueue(
        inbound=inbound,
        purpose=Purpose.OTHER,
        variant=variant,
        default_text=SMS_REPLIES[variant],
    )
    return InboundMessage.Outcome.HANDLED


# --- Step 2: the confirmation call --------------------------------------------------


@transaction.atomic
def requests_claim(*, agent, limit: int = 10) -> int:
    """Give `agent` up to `limit` unclaimed requests waiting for a call; how many.

    Oldest deadline first. Rows another agent is claiming at the same moment are
    skipped rather than waited for, so two agents never get the same request and
    neither blocks; locking in deadline-then-id order keeps claims deadlock-free.
    """
    ids = list(
        ServiceRequest.objects.select_for_update(skip_locked=True)
        .filter(status=Status.NEW, agent__isnull=True)
        .order_by("confirm_due_at", "id")
        .values_list("id", flat=True)[:limit]
    )
    if not ids:
        return 0
    now = timezone.now()
    ServiceRequest.objects.filter(pk__in=ids).update(agent=agent, updated_at=now)
    ServiceRequestEvent.objects.bulk_create(
        ServiceRequestEvent(
            request_id=pk,
            kind=Kind.CLAIMED,
            from_status=Status.NEW,
            to_status=Status.NEW,
            actor=agent,
            at=now,
        )
        for pk in ids
    )
    return len(ids)


class CallOutcome:
    CONFIRMED = "confirmed"
    CORRECTED = "corrected"
    CANCELLED = "cancelled"


@transaction.atomic
def request_confirm(
    *,
    request: ServiceRequest,
    actor,
    outcome: str,
    address: str = "",
    district: str = "",
    appointment_at: datetime | None = None,
    note: str = "",
    cancel_reason: str = "",
) -> ServiceRequest:
    """Record the confirmation call: address confirmed, corrected, or cancelled.

    Only the agent holding the request may record its call. An appointment agreed
    with the customer replaces the 10-day visit deadline.
    """
    locked = _locked(request)
    if locked.agent_id != actor.pk:
        raise DomainError(_("This request is not in your queue."))
    was = locked.status
    data: dict = {"note": note[:500]}
    if outcome == CallOutcome.CANCELLED:
        if not cancel_reason.strip():
            raise DomainError(_("Say why the customer cancelled."))
        locked.move_to(Status.CANCELLED)
        locked.cancel_reason = cancel_reason.strip()[:300]
        kind = Kind.CANCELLED
        data["reason"] = locked.cancel_reason
    elif outcome in (CallOutcome.CONFIRMED, CallOutcome.CORRECTED):
        locked.move_to(Status.CONFIRMED)
        kind = Kind.CONFIRMED
        if outcome == CallOutcome.CORRECTED:
            if not address.strip():
                raise DomainError(_("Enter the corrected address."))
            data["old_address"] = locked.address
            locked.address = address.strip()[:300]
            if district.strip():
                data["old_district"] = locked.district
                locked.district = district.strip()[:100]
            locked.address_corrected = True
            kind = Kind.CORRECTED
        if appointment_at is not None:
            if appointment_at < timezone.now():
                raise DomainError(_("The appointment cannot be in the past."))
            locked.appointment_at = appointment_at
            locked.visit_due_at = appointment_at
            data["appointment"] = appointment_at.isoformat()
        locked.confirmed_at = timezone.now()
    else:
        raise DomainError(_("Unknown call outcome."))
    locked.call_note = note[:500]
    locked.updated_at = timezone.now()
    locked.save()
    _event(request=locked, kind=kind, actor=actor, from_status=was, data=data)
    return locked


# --- Step 3: allocation and the visit -----------------------------------------------


@transaction.atomic
def requests_allocate(
    *, province: str, request_ids: list[int], field_staff, actor
) -> Allocation:
    """Hand the province's confirmed requests among `request_ids` to one field worker.

    Set-based: one UPDATE moves the rows and one INSERT ... SELECT writes their
    history, whatever the number of requests. Requests of another province, or not
    confirmed, are left alone; if none is left, nothing is written.
    """
    scope = StaffScope.objects.filter(user=field_staff).first()
    if (
        scope is None
        or scope.province != province
        or not selectors.field_staff_of(province=province)
        .filter(pk=field_staff.pk)
        .exists()
    ):
        raise DomainError(_("This person is not field staff of your province."))
    allocation = Allocation.objects.create(
        province=province, field_staff=field_staff, created_by=actor
    )
    now = timezone.now()
    count = (
        ServiceRequest.objects.filter(
            pk__in=request_ids, province=province, status=Status.CONFIRMED
        )
        # The UPDATE locks the rows itself and re-checks the status of any row a
        # concurrent cancel or allocation changed first.
        .update(
            status=Status.ALLOCATED,
            allocation=allocation,
            field_staff=field_staff,
            contractor=scope.contractor,
            updated_at=now,
        )
    )
    if not count:
        raise DomainError(
            _("None of the chosen requests is confirmed and waiting for allocation.")
        )
    allocation.count = count
    allocation.save(update_fields=["count"])
    events = ServiceRequestEvent._meta.db_table
    requests = ServiceRequest._meta.db_table
    # PostgreSQL cannot infer the types of parameters in a SELECT list; SQLite (the
    # demo) has no such casts.
    casts = (
        ["::varchar", "::varchar", "::varchar", "::integer", "::timestamptz", "::jsonb"]
        if connection.vendor == "postgresql"
        else [""] * 6
    )
    values = ", ".join(f"%s{cast}" for cast in casts)
    with connection.cursor() as cursor:
        cursor.execute(
            f"INSERT INTO {events} "  # noqa: S608 - table names from the models
            "(request_id, kind, from_status, to_status, actor_id, at, data) "
            f"SELECT id, {values} FROM {requests} WHERE allocation_id = %s",
            [
                Kind.ALLOCATED.value,
                Status.CONFIRMED.value,
                Status.ALLOCATED.value,
                actor.pk if actor else None,
                connection.ops.adapt_datetimefield_value(now),
                json.dumps(
                    {"field_staff": field_staff.username, "allocation": allocation.pk}
                ),
                allocation.pk,
            ],
        )
    return allocation


@transaction.atomic
def requests_share(
    *, province: str, request_ids: list[int], field_staff: list, actor
) -> list[Allocation]:
    """Share the chosen confirmed requests among several field workers, evenly.

    Requests are ordered by district and deadline and cut into contiguous blocks,
    one per worker, so each gets neighbouring addresses. Each block is one
    `requests_allocate` (one UPDATE and one INSERT ... SELECT), all in one
    transaction: a refused worker leaves nothing allocated.
    """
    workers = list(field_staff)
    if not workers:
        raise DomainError(_("Choose at least one field worker."))
    ids = list(
        ServiceRequest.objects.filter(
            pk__in=request_ids, province=province, status=Status.CONFIRMED
        )
        .order_by("district", "visit_due_at", "id")
        .values_list("id", flat=True)
    )
    if not ids:
        raise DomainError(
            _("None of the chosen requests is confirmed and waiting for allocation.")
        )
    size, extra = divmod(len(ids), len(workers))
    allocations, start = [], 0
    for index, worker in enumerate(workers):
        end = start + size + (1 if index < extra else 0)
        if end > start:
            allocations.append(
                requests_allocate(
                    province=province,
                    request_ids=ids[start:end],
                    field_staff=worker,
                    actor=actor,
                )
            )
        start = end
    return allocations


@transaction.atomic
def request_unallocate(*, request: ServiceRequest, actor) -> ServiceRequest:
    """Take an allocated request back from its field worker (to allocate it again)."""
    locked = _locked(request)
    was = locked.status
    previous = locked.field_staff.username if locked.field_staff else ""
    locked.move_to(Status.CONFIRMED)
    locked.field_staff = None
    locked.allocation = None
    locked.contractor = ""
    locked.updated_at = timezone.now()
    locked.save()
    _event(
        request=locked,
        kind=Kind.UNALLOCATED,
        actor=actor,
        from_status=was,
        data={"field_staff": previous},
    )
    return locked


_ICCID = re.compile(r"89\d{17,20}")


@transaction.atomic
def visit_record(
    *,
    request: ServiceRequest,
    actor,
    contacts_backed_up: bool,
    sim_swapped: bool,
    new_sim_serial: str,
    app_installed: bool,
    record_corrected: bool,
    package_advised: bool,
    package_code: str = "",
    note: str = "",
) -> ServiceRequest:
    """Record the home visit done by the field worker the request is allocated to."""
    locked = _locked(request)
    if locked.field_staff_id != actor.pk:
        raise DomainError(_("This request is not allocated to you."))
    serial = re.sub(r"\s", "", new_sim_serial or "")
    if sim_swapped and not _ICCID.fullmatch(serial):
        raise DomainError(
            _(
                "The new SIM serial (ICCID) is 19 to 22 digits starting with 89, "
                "as printed on the SIM card."
            )
        )
    if not sim_swapped:
        serial = ""
    if serial and (
        ServiceRequest.objects.filter(new_sim_serial=serial)
        .exclude(pk=locked.pk)
        .exists()
    ):
        raise DomainError(
            _("SIM serial %(serial)s is already recorded for another customer.")
            % {"serial": serial}
        )
    was = locked.status
    locked.move_to(Status.COMPLETED)
    locked.visited_at = timezone.now()
    locked.contacts_backed_up = contacts_backed_up
    locked.sim_swapped = sim_swapped
    locked.new_sim_serial = serial
    locked.app_installed = app_installed
    locked.record_corrected = record_corrected
    locked.package_advised = package_advised
    locked.package_code = package_code.strip()[:40] if package_advised else ""
    locked.visit_note = note[:500]
    locked.updated_at = locked.visited_at
    locked.save()
    _event(
        request=locked,
        kind=Kind.VISITED,
        actor=actor,
        from_status=was,
        data={
            "sim_swapped": sim_swapped,
            "app_installed": app_installed,
            "record_corrected": record_corrected,
            "package_advised": package_advised,
        },
    )
    return locked


# --- The IVR result file ------------------------------------------------------------

IVR_COLUMNS = {
    "msisdn": {"msisdn", "so_thue_bao", "thue_bao", "so_dien_thoai", "phone", "isdn"},
    "key": {"key", "phim", "phim_bam", "dtmf", "digit"},
    "called_at": {"called_at", "thoi_gian", "thoi_gian_goi", "ngay_goi", "time"},
}
IVR_KEYS = {"1", "2", "3", ""}
_DATE_FORMATS = ("%d/%m/%Y %H:%M:%S", "%d/%m/%Y %H:%M", "%d/%m/%Y", "%Y-%m-%d %H:%M:%S")


def _header_key(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "_", strip_diacritics(text).lower()).strip("_")


def _parse_moment(text: str) -> datetime | None:
    text = text.strip()
    for pattern in _DATE_FORMATS:
        try:
            return timezone.make_aware(datetime.strptime(text, pattern))
        except ValueError:
            continue
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        return None
    return moment if timezone.is_aware(moment) else timezone.make_aware(moment)


def _ivr_rows(path: Path, original_name: str):
    """(column positions, rows) of a checked file; DomainError naming what is wrong."""
    try:
        table = open_table(path, original_name=original_name)
    except UnreadableFile as exc:
        raise DomainError(str(exc)) from exc
    positions = {}
    for index, header in enumerate(table.headers):
        for name, spellings in IVR_COLUMNS.items():
            if _header_key(header) in spellings and name not in positions:
                positions[name] = index
    missing = [name for name in ("msisdn", "key") if name not in positions]
    if missing:
        raise DomainError(
            _(
                "The file “%(name)s” has no column %(columns)s. The IVR result file "
                "needs the columns msisdn and key (the key the customer pressed)."
            )
            % {"name": original_name, "columns": ", ".join(missing)}
        )
    return positions, table.iter_rows()


def ivr_import(
    *, campaign: Campaign, path: Path, original_name: str, actor=None
) -> IvrImport:
    """Import a result file at once (tests, shell); the page queues `ivr_import_run`."""
    record = IvrImport.objects.create(
        campaign=campaign,
        file_name=original_name[:255],
        created_by=actor,
        outcome=IvrImport.Outcome.RUNNING,
    )
    _ivr_process(record=record, path=Path(path), actor=actor)
    return record


@transaction.atomic
def ivr_import_queue(*, campaign: Campaign, upload, actor=None) -> IvrImport:
    """Keep the uploaded file and read it in a task after commit."""
    from servicerequests import tasks

    record = IvrImport(campaign=campaign, file_name=upload.name[:255], created_by=actor)
    record.file.save(upload.name, upload, save=False)
    record.save()
    transaction.on_commit(lambda: tasks.ivr_import_run.delay(record.pk))
    return record


def ivr_import_run(*, import_id: int) -> IvrImport:
    """Read a queued upload (the task's work); a second call does nothing."""
    with transaction.atomic():
        record = IvrImport.objects.select_for_update().get(pk=import_id)
        if record.outcome != IvrImport.Outcome.QUEUED:
            return record
        record.outcome = IvrImport.Outcome.RUNNING
        record.save(update_fields=["outcome"])
    _ivr_process(record=record, path=Path(record.file.path), actor=record.created_by)
    return record


PROGRESS_EVERY = 5000


def _ivr_process(*, record: IvrImport, path: Path, actor) -> None:
    """Check every row (number, key, time), then write the press-1 requests, all or
    nothing.

    One bad row refuses the whole file and the import lists each bad row with its
    number and reason. A good file creates a request for each number that pressed
    1 (once per number), checked against the list like any other request; numbers
    with an open request keep it. Writes are batched: a handful of queries whatever
    the file's size.
    """
    campaign = record.campaign
    try:
        positions, rows = _ivr_rows(path, record.file_name)
    except DomainError as exc:
        record.outcome = IvrImport.Outcome.REFUSED
        record.error = str(exc)
        record.save()
        return
    problems: list[dict] = []
    pressed: dict[str, datetime] = {}
    total = 0
    now = timezone.now()
    for row_no, cells in enumerate(rows, start=2):
        total += 1
        if total % PROGRESS_EVERY == 0:
            IvrImport.objects.filter(pk=record.pk).update(rows_read=total)
        reasons = []
        raw_number = cells[positions["msisdn"]].strip()
        number = msisdn_normalize(raw_number)
        if number is None:
            reasons.append(
                _("“%(value)s” is not a mobile number") % {"value": raw_number}
            )
        key = cells[positions["key"]].strip().removesuffix(".0")
        if key not in IVR_KEYS:
            reasons.append(_("key “%(value)s” is not 1, 2 or 3") % {"value": key})
        moment = now
        if "called_at" in positions and cells[positions["called_at"]].strip():
            moment = _parse_moment(cells[positions["called_at"]])
            if moment is None:
                reasons.append(
                    _("time “%(value)s” is not a date like 26/03/2021 09:30")
                    % {"value": cells[positions["called_at"]]}
                )
            elif moment > now:
                reasons.append(_("the call time is in the future"))
        if reasons:
            problems.append({"row": row_no, "problems": "; ".join(reasons)})
        elif key == "1":
            pressed.setdefault(number, moment)
    record.rows_read = record.total_rows = total
    record.pressed_1 = len(pressed)
    if total == 0:
        problems.append({"row": 1, "problems": _("the file has no data rows")})
    if problems:
        record.outcome = IvrImport.Outcome.REFUSED
        record.problems = problems
        record.save()
        return
    try:
        with transaction.atomic():
            _ivr_requests_write(
                campaign=campaign, pressed=pressed, record=record, actor=actor
            )
    except DomainError as exc:
        record.outcome = IvrImport.Outcome.REFUSED
        record.error = str(exc)
        record.save()


def _ivr_requests_write(
    *, campaign: Campaign, pressed: dict[str, datetime], record: IvrImport, actor
) -> None:
    # Lock the campaign so two uploads of overlapping files do not race each other.
    Campaign.objects.select_for_update().filter(pk=campaign.pk).first()
    numbers = list(pressed)
    open_requests = {
        request.msisdn: request
        for request in ServiceRequest.objects.open().filter(
            campaign=campaign, msisdn__in=numbers
        )
    }
    run = selectors.list_run_for(campaign)
    members = selectors.members_by_number(run=run, numbers=numbers) if run else {}
    addresses = dict(
        Subscriber.objects.filter(
            snapshot=campaign.snapshot_id, msisdn__in=list(members)
        ).values_list("msisdn", "address")
    )
    reasons_by_day: dict[date, dict] = {}
    new_requests = []
    for number, moment in pressed.items():
        if number in open_requests:
            continue
        day = timezone.localtime(moment).date()
        if day not in reasons_by_day:
            reasons_by_day[day] = selectors.phase_reasons(campaign=campaign, day=day)
        member = members.get(number)
        if run is None:
            reason = _("The programme has no approved list yet.")
        elif member is None:
            reason = _("The number is not on the programme's list.")
        else:
            reason = reasons_by_day[day].get(member.phase, "")
        request = ServiceRequest(
            campaign=campaign,
            msisdn=number,
            source=Source.IVR,
            status=Status.INELIGIBLE if reason else Status.NEW,
            full_name=member.full_name if member else "",
            address=addresses.get(number, ""),
            province=member.province if member else "",
            district=member.district if member else "",
            run=run,
            list_name=member.list_name if member else "",
            phase=member.phase if member else None,
            ineligible_reason=reason[:300],
            registered_at=moment,
        )
        request.set_deadlines()
        new_requests.append(request)
    try:
        with transaction.atomic():
            created = ServiceRequest.objects.bulk_create(new_requests, batch_size=2000)
    except IntegrityError as exc:
        raise DomainError(
            _(
                "Some of these numbers registered through another channel during the "
                "import. Nothing was imported; upload the file again."
            )
        ) from exc
    now = timezone.now()
    actor_id = actor.pk if actor is not None else None
    events = [
        ServiceRequestEvent(
            request=request,
            kind=Kind.REGISTERED,
            to_status=request.status,
            actor_id=actor_id,
            at=now,
            data={"source": Source.IVR, "reason": request.ineligible_reason},
        )
        for request in created
    ] + [
        ServiceRequestEvent(
            request=request,
            kind=Kind.REPEATED,
            from_status=request.status,
            to_status=request.status,
            actor_id=actor_id,
            at=now,
            data={"source": Source.IVR},
        )
        for request in open_requests.values()
    ]
    ServiceRequestEvent.objects.bulk_create(events, batch_size=2000)
    statuses = Counter(request.status for request in created)
    record.outcome = IvrImport.Outcome.IMPORTED
    record.created = statuses[Status.NEW]
    record.ineligible = statuses[Status.INELIGIBLE]
    record.repeated = len(open_requests)
    record.save()


def ivr_script_text(campaign: Campaign) -> str:
    """The IVR script as plain text for the vendor."""
    script = getattr(campaign, "ivr_script", None)
    if script is None:
        raise DomainError(_("The campaign has no IVR script yet."))
    lines = [
        campaign.name,
        "",
        script.intro,
        "",
        _("Key 1:") + " " + script.key_1,
        _("Key 2:") + " " + script.key_2,
        _("Key 3:") + " " + script.key_3,
    ]
    if script.closing:
        lines += ["", script.closing]
    return "\n".join(lines) + "\n"


def staff_scope_set(*, user, province: str, contractor: str = "") -> StaffScope:
    scope, _created = StaffScope.objects.update_or_create(
        user=user, defaults={"province": province, "contractor": contractor}
    )
    return scope

"""Writes to gifts: invitations, logins, choices and stock.

Each state change is one function, keyword-only, in a transaction, writing the
invitation's event in the same transaction. Views, tasks and the admin call these;
they never write the models themselves.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.db import connection, transaction
from django.db.models import F
from django.utils import formats, timezone
from django.utils.translation import gettext as _

from campaigns import services as campaign_services
from campaigns.models import Campaign, SelectionRun
from eligibility.models import DomainError
from gifts.models import (
    CAMPAIGN_ZONE,
    EXTRA_DETAIL_FIELDS,
    Choice,
    Gift,
    GiftSettings,
    GiftStock,
    Invitation,
    InvitationEvent,
    NoChoicePolicy,
    Store,
)

Kind = InvitationEvent.Kind
Status = Invitation.Status

# Campaign statuses in which invited members may choose. Before approval nobody is
# invited; from "closed" on the choices are being delivered.
CHOOSING_STATUSES = {
    Campaign.Status.APPROVED,
    Campaign.Status.INVITING,
    Campaign.Status.OPEN,
}

CODE_ALPHABET = "ACEFHJKMNPRTWXY34679"
CODE_LENGTH = 10


class OutOfStock(DomainError):
    """The gift has no unit left for this member ("hết quà")."""


class LoginRefused(DomainError):
    """Wrong phone or password; the message never says which."""


class LoginLocked(DomainError):
    """Too many wrong passwords for this number: wait until `until`."""

    def __init__(self, message: str, until: datetime):
        super().__init__(message)
        self.until = until


# --- Passwords ---------------------------------------------------------------------------
#
# An invitation password is a one-time code of 6 characters from a 20-character
# alphabet (20^6 = 64 million values), alive for at most a few days. It is stored as
# HMAC-SHA256 keyed with a secret pepper that is not in the database, so a dump of the
# database alone reveals nothing: without the pepper no guess can even be checked
# offline, and with it each of the 64 million candidates costs one HMAC.
#
# Not PBKDF2 or argon2: those slow hashes protect a human-chosen password that a user
# keeps for years and reuses elsewhere, by making each offline guess expensive. Here
# the space is so small that any hash fast enough for the login burst (10,000
# customers logging in within minutes of the SMS; a 600,000-iteration PBKDF2 costs
# ~0.3 s of a core, so 2 cores would manage ~6 logins/s) could still be exhausted
# offline, so the slowness would buy nothing. What protects these codes is the pepper
# (offline) and the lockout (online): five wrong passwords lock the invitation, every
# further wrong password doubles the lock, and the code dies at its deadline; see
# README "Security" for the bound on guessing this gives.


def password_generate(*, length: int, alphabet: str) -> str:
    return "".join(secrets.choice(alphabet) for _ in range(length))


def password_normalise(password: str) -> str:
    # The alphabet is capitals and digits; customers type on phones that may
    # capitalise nothing, and may add a space when copying from the SMS.
    return "".join(password.split()).upper()


def password_hash(*, campaign_id: int, msisdn: str, password: str) -> str:
    """Hex HMAC-SHA256 of the password, bound to its campaign and line.

    Binding the line means two members given the same code get different hashes, and
    a hash copied onto another row does not open it.
    """
    pepper = (settings.GIFTS_PASSWORD_PEPPER or settings.SECRET_KEY).encode()
    message = f"gifts-invitation:{campaign_id}:{msisdn}:{password_normalise(password)}"
    return hmac.new(pepper, message.encode(), hashlib.sha256).hexdigest()


def password_matches(
    *, invitation_hash: str, campaign_id: int, msisdn: str, password: str
) -> bool:
    candidate = password_hash(campaign_id=campaign_id, msisdn=msisdn, password=password)
    return hmac.compare_digest(candidate, invitation_hash)


# --- Invitations ---------------------------------------------------------------------


def gift_settings_for(campaign: Campaign) -> GiftSettings:
    settings_row, _created = GiftSettings.objects.get_or_create(campaign=campaign)
    return settings_row


def _event(*, invitation_id: int, kind: str, actor=None, data: dict | None = None):
    return InvitationEvent.objects.create(
        invitation_id=invitation_id, kind=kind, actor=actor, data=data or {}
    )


def deadline_text(deadline: datetime) -> str:
    """The deadline as the SMS and the site write it: 23:59 dd/mm/yyyy, Vietnam time."""
    local = timezone.localtime(deadline, CAMPAIGN_ZONE)
    return f"{local:%H:%M} {local:%d/%m/%Y}"


def _invitation_messages_enqueue(*, campaign: Campaign, messages: list[dict]) -> None:
    """Hand the invitation SMS of one chunk to messaging, in the caller's transaction.

    Each item: msisdn, sequence (the invitation's password version: 1 for the first
    SMS, higher for a password sent again) and context (password, deadline, name,
    gift). The outbox row is written in the same transaction as the invitation, so an
    invitation exists if and only if its SMS is queued; messaging seals the password
    in its outbox and sends after commit.
    """
    from messaging import services as messaging_services

    messaging_services.messages_enqueue_bulk(
        campaign=campaign,
        purpose="invitation",
        recipients=(
            {"msisdn": item["msisdn"], "sequence": item["sequence"], **item["context"]}
            for item in messages
        ),
    )


def _gift_words(campaign: Campaign) -> str:
    """What the SMS calls the gift: the catalogue's value when all gifts share it."""
    values = {
        value
        for value in Gift.objects.filter(campaign=campaign, active=True).values_list(
            "value_vnd", flat=True
        )
    }
    if len(values) == 1 and (value := values.pop()):
        return _("a gift worth %(value)s đồng") % {
            "value": formats.number_format(value, force_grouping=True)
        }
    return _("a gift")


@dataclass(frozen=True)
class IssueResult:
    created: int
    already_invited: int


def invitations_issue(
    *,
    run: SelectionRun,
    actor=None,
    now: datetime | None = None,
    chunk_size: int = 2000,
    send_passwords: bool = True,
) -> IssueResult:
    """Invite every selected member of an approved run who is not yet invited.

    The rows are created in one set-based INSERT … SELECT from the run's members
    (skipping lines the campaign already invited, so running it again only adds the
    missing ones); then, in chunks of `chunk_size` ordered by id, each new row gets its
    random password, which is hashed, stored, and handed to messaging with the SMS.
    Passwords need Python (a CSPRNG and the pepper, which never goes to the database),
    and a chunk at a time keeps memory bounded whatever the size of the list: only
    one chunk's plain passwords exist at once, and only until messaging has sealed
    them. Everything is one transaction: a failure leaves nobody invited.

    With `send_passwords=False` (programmes whose gifts are chosen on a call, like
    002) the invitations hold no password and no SMS goes out: nobody can log in to
    the gift site with them, and call agents choose on the member's behalf.
    """
    now = now or timezone.now()
    with transaction.atomic():
        run = (
            SelectionRun.objects.select_for_update()
            .select_related("campaign")
            .get(pk=run.pk)
        )
        if run.status != SelectionRun.Status.APPROVED:
            raise DomainError(
                _("Run %(number)s is %(status)s: only an approved list is invited.")
                % {"number": run.number, "status": run.get_status_display()}
            )
        campaign = run.campaign
        gift_settings = gift_settings_for(campaign)
        deadline = gift_settings.deadline_for(now)
        table = Invitation._meta.db_table
        member_table = run.members.model._meta.db_table
        with connection.cursor() as cursor:
            cursor.execute(
                f"""
                INSERT INTO {table} (
                    campaign_id, run_id, member_id, msisdn, tier, province, district,
                    password_hash, password_version, issued_at, deadline, status,
                    failed_attempts, revision
                )
                SELECT %s, m.run_id, m.id, m.msisdn, m.gift_tier, m.province,
                       m.district, '', 1, %s, %s, %s, 0, 0
                FROM {member_table} m
                WHERE m.run_id = %s AND m.selected
                ORDER BY m.rank
                ON CONFLICT (campaign_id, msisdn) DO NOTHING
                """,
                [campaign.pk, now, deadline, Status.ISSUED, run.pk],
            )
            created = cursor.rowcount
        selected = run.members.filter(selected=True).count()
        if not send_passwords:
            _invitations_without_password(run=run, actor=actor, now=now)
        gift = _gift_words(campaign)
        deadline_words = deadline_text(deadline)
        last_id = 0
        while True:
            chunk = list(
                Invitation.objects.filter(run=run, password_hash="", pk__gt=last_id)
                .order_by("pk")
                .values_list("pk", "msisdn", "member__full_name")[:chunk_size]
            )
            if not chunk:
                break
            last_id = chunk[-1][0]
            rows, events, messages = [], [], []
            for pk, msisdn, full_name in chunk:
                password = password_generate(
                    length=gift_settings.password_length,
                    alphabet=gift_settings.password_alphabet,
                )
                rows.append(
                    Invitation(
                        pk=pk,
                        password_hash=password_hash(
                            campaign_id=campaign.pk, msisdn=msisdn, password=password
                        ),
                    )
                )
                events.append(
                    InvitationEvent(
                        invitation_id=pk,
                        kind=Kind.ISSUED,
                        actor=actor,
                        data={"run": run.number, "deadline": deadline.isoformat()},
                        created_at=now,
                    )
                )
                messages.append(
                    {
                        "msisdn": msisdn,
                        "sequence": 1,
                        "context": {
                            "password": password,
                            "deadline": deadline_words,
                            "name": full_name,
                            "gift": gift,
                        },
                    }
                )
            Invitation.objects.bulk_update(rows, ["password_hash"])
            InvitationEvent.objects.bulk_create(events)
            _invitation_messages_enqueue(campaign=campaign, messages=messages)
            del rows, events, messages
        # The campaign passes through "inviting" to "open" in the same transaction:
        # the SMS are in the outbox, so members may log in as soon as theirs arrives.
        if campaign.status == Campaign.Status.APPROVED:
            for status in (Campaign.Status.INVITING, Campaign.Status.OPEN):
                campaign_services.campaign_transition(
                    campaign=campaign, to_status=status, actor=actor
                )
    return IssueResult(created=created, already_invited=selected - created)


# Never the output of password_hash (64 hex digits), so no password opens the row.
NO_PASSWORD = "-"


def _invitations_without_password(*, run: SelectionRun, actor, now: datetime) -> None:
    """Mark the run's new invitations as opened by agents only, in two statements."""
    table = Invitation._meta.db_table
    json_cast = "::jsonb" if connection.vendor == "postgresql" else ""
    with connection.cursor() as cursor:
        cursor.execute(
            f"""
            INSERT INTO {InvitationEvent._meta.db_table}
                (invitation_id, kind, actor_id, data, created_at)
            SELECT id, %s, %s, %s{json_cast}, %s FROM {table}
            WHERE run_id = %s AND password_hash = ''
            """,
            [
                Kind.ISSUED,
                actor.pk if actor else None,
                json.dumps({"run": run.number, "by_call": True}),
                now,
                run.pk,
            ],
        )
        cursor.execute(
            f"UPDATE {table} SET password_hash = %s "
            "WHERE run_id = %s AND password_hash = ''",
            [NO_PASSWORD, run.pk],
        )


@transaction.atomic
def invitation_password_resend(*, invitation: Invitation, actor=None) -> Invitation:
    """A new password by SMS (the customer lost the first one); the old one stops working.

    The deadline stays: the offer does not get longer by asking again.
    """
    locked = (
        Invitation.objects.select_for_update()
        .select_related("campaign")
        .get(pk=invitation.pk)
    )
    if locked.status == Status.CANCELLED:
        raise DomainError(_("The invitation is cancelled."))
    gift_settings = gift_settings_for(locked.campaign)
    password = password_generate(
        length=gift_settings.password_length, alphabet=gift_settings.password_alphabet
    )
    locked.password_hash = password_hash(
        campaign_id=locked.campaign_id, msisdn=locked.msisdn, password=password
    )
    locked.password_version += 1
    locked.failed_attempts = 0
    locked.locked_until = None
    locked.save(
        update_fields=[
            "password_hash",
            "password_version",
            "failed_attempts",
            "locked_until",
        ]
    )
    _event(
        invitation_id=locked.pk,
        kind=Kind.PASSWORD_RESENT,
        actor=actor,
        data={"sequence": locked.password_version},
    )
    _invitation_messages_enqueue(
        campaign=locked.campaign,
        messages=[
            {
                "msisdn": locked.msisdn,
                "sequence": locked.password_version,
                "context": {
                    "password": password,
                    "deadline": deadline_text(locked.deadline),
                    "name": locked.member.full_name,
                    "gift": _gift_words(locked.campaign),
                },
            }
        ],
    )
    return locked


@transaction.atomic
def invitation_unlock(*, invitation: Invitation, actor) -> None:
    """Lift a lockout (the hotline checked the caller owns the line)."""
    Invitation.objects.filter(pk=invitation.pk).update(
        failed_attempts=0, locked_until=None
    )
    _event(invitation_id=invitation.pk, kind=Kind.UNLOCKED, actor=actor)


# --- Login -----------------------------------------------------------------------------


def _lock_durations() -> list[timedelta]:
    """Lock lengths for the 1st, 2nd, … lock: doubling from the base, capped."""
    base = timedelta(minutes=settings.GIFTS_LOCKOUT_MINUTES)
    cap = timedelta(minutes=settings.GIFTS_LOCKOUT_MAX_MINUTES)
    durations = [base]
    while durations[-1] < cap:
        durations.append(min(durations[-1] * 2, cap))
    return durations


def _locked_message(until: datetime) -> str:
    local = timezone.localtime(until, CAMPAIGN_ZONE)
    return _(
        "Too many wrong passwords. Try again after %(time)s, or call 9090 for help."
    ) % {"time": f"{local:%H:%M %d/%m/%Y}"}


def invitation_login(
    *, msisdn: str, password: str, now: datetime | None = None
) -> Invitation:
    """The invitation this phone and password open, or LoginRefused / LoginLocked.

    Every attempt first claims a slot, atomically in the database, before the
    password is even compared: one UPDATE … SET failed_attempts = failed_attempts + 1
    … WHERE the line is not locked … RETURNING. The attempt that reaches the limit
    sets the lock in the same statement, so a burst of parallel guesses is serialised
    on the row and only the allowed number is ever compared; a lockout library that
    reads the count, compares, then writes lets a parallel burst through. A correct
    password clears the count on every invitation of the line.
    """
    now = now or timezone.now()
    limit = settings.GIFTS_LOGIN_MAX_FAILURES
    durations = _lock_durations()
    # failed_attempts + 1 = limit + k takes the (k+1)th duration; beyond, the cap.
    whens = " ".join(f"WHEN {limit + k} THEN %s" for k in range(len(durations)))
    lock_params = [now + duration for duration in durations]
    table = Invitation._meta.db_table
    # Each statement commits on its own (autocommit): the claim must count even when
    # the comparison that follows fails, and the login path stays two round trips.
    with connection.cursor() as cursor:
        cursor.execute(
            f"""
            UPDATE {table}
            SET failed_attempts = failed_attempts + 1,
                locked_until = CASE
                    WHEN failed_attempts + 1 >= %s THEN
                        CASE failed_attempts + 1 {whens} ELSE %s END
                    ELSE locked_until END
            WHERE msisdn = %s
              AND status <> %s
              AND deadline >= %s
              AND (locked_until IS NULL OR locked_until <= %s)
            RETURNING id, campaign_id, password_hash, failed_attempts, locked_until
            """,
            [
                limit,
                *lock_params,
                lock_params[-1],
                msisdn,
                Status.CANCELLED,
                # After the deadline the password still shows the choice and its
                # delivery, for a while; then it opens nothing.
                now - timedelta(days=settings.GIFTS_LOGIN_DAYS_AFTER_DEADLINE),
                now,
            ],
        )
        claimed = cursor.fetchall()
    if not claimed:
        until = (
            Invitation.objects.filter(msisdn=msisdn, locked_until__gt=now)
            .exclude(status=Status.CANCELLED)
            .order_by("locked_until")
            .values_list("locked_until", flat=True)
            .first()
        )
        if until is not None:
            raise LoginLocked(_locked_message(until), until)
        if Invitation.objects.filter(msisdn=msisdn).exists():
            raise LoginRefused(_wrong_login_message())
        _unknown_number_failure(msisdn=msisdn, now=now, durations=durations)
    matched = next(
        (
            row
            for row in claimed
            if password_matches(
                invitation_hash=row[2],
                campaign_id=row[1],
                msisdn=msisdn,
                password=password,
            )
        ),
        None,
    )
    if matched is None:
        for pk, _campaign, _hash, failures, locked_until in claimed:
            if failures >= limit:
                _event(
                    invitation_id=pk,
                    kind=Kind.LOCKED,
                    data={
                        "failures": failures,
                        "until": _as_aware(locked_until).isoformat(),
                    },
                )
        raise LoginRefused(_wrong_login_message())
    # The caller holds the SMS: clear the count on every invitation of the line, in
    # the one statement that also records the login.
    ids = [row[0] for row in claimed]
    with connection.cursor() as cursor:
        cursor.execute(
            f"""
            UPDATE {table}
            SET failed_attempts = 0, locked_until = NULL, last_login_at = %s
            WHERE id IN ({", ".join(["%s"] * len(ids))})
            """,
            [now, *ids],
        )
    return Invitation(pk=matched[0], campaign_id=matched[1], msisdn=msisdn)


def _unknown_number_failure(*, msisdn: str, now: datetime, durations) -> None:
    """Count wrong logins for a number nobody invited, in the cache, and lock it like
    an invitation, so that locking cannot tell an invited number from another."""
    from django.core.cache import cache

    key = f"gifts:unknown-login:{msisdn}"
    ttl = int(durations[0].total_seconds())
    cache.add(key, 0, ttl)
    try:
        failures = cache.incr(key)
    except ValueError:  # expired between add and incr
        cache.add(key, 1, ttl)
        failures = 1
    if failures >= settings.GIFTS_LOGIN_MAX_FAILURES:
        until = now + durations[0]
        raise LoginLocked(_locked_message(until), until)
    raise LoginRefused(_wrong_login_message())


def _as_aware(value) -> datetime:
    # Raw cursors on SQLite return timestamps as text or naive datetimes.
    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    if timezone.is_naive(value):
        value = timezone.make_aware(value, timezone.UTC)
    return value


def _wrong_login_message() -> str:
    # One message for an unknown number and a wrong password: the page must not
    # tell anyone which numbers were invited.
    return _(
        "The phone number or the password is not right. Check the SMS and try again."
    )


# --- Stock ---------------------------------------------------------------------------


def stock_for(*, gift: Gift, tier: str, province: str, stocks=None) -> GiftStock | None:
    """The stock row a member draws this gift from: the most specific one that fits."""
    rows = gift.stocks.all() if stocks is None else stocks
    fitting = [row for row in rows if row.fits(tier=tier, province=province)]
    return max(fitting, key=lambda row: row.specificity, default=None)


def stock_take(*, stock_id: int) -> bool:
    """Take one unit if one is left: UPDATE … SET remaining = remaining - 1 WHERE
    remaining > 0. PostgreSQL re-checks the WHERE on the latest row version after a
    concurrent update, so two buyers of the last unit cannot both get it; the CHECK
    constraint (remaining >= 0) stands behind it."""
    return (
        GiftStock.objects.filter(pk=stock_id, remaining__gt=0).update(
            remaining=F("remaining") - 1
        )
        == 1
    )


def stock_give_back(*, stock_id: int) -> None:
    GiftStock.objects.filter(pk=stock_id).update(remaining=F("remaining") + 1)


@transaction.atomic
def stock_set_total(*, stock: GiftStock, total: int) -> GiftStock:
    """Change the number of units; what customers already took stays taken."""
    locked = GiftStock.objects.select_for_update().get(pk=stock.pk)
    taken = locked.total - locked.remaining
    if total < taken:
        raise DomainError(
            _("%(taken)s units are already taken: the total cannot be lower.")
            % {"taken": taken}
        )
    locked.remaining = total - taken
    locked.total = total
    locked.save(update_fields=["total", "remaining"])
    return locked


def _campaign_close_if_gifts_gone(*, campaign: Campaign) -> None:
    """A campaign that runs until the gifts run out closes when the last unit goes."""
    if not campaign.until_gifts_run_out:
        return
    left = GiftStock.objects.filter(
        gift__campaign=campaign, gift__active=True, remaining__gt=0
    ).exists()
    if left:
        return
    current = Campaign.objects.get(pk=campaign.pk)
    if Campaign.Status.CLOSED in current.allowed_moves():
        campaign_services.campaign_transition(
            campaign=current, to_status=Campaign.Status.CLOSED
        )


# --- Choices ---------------------------------------------------------------------------


@dataclass(frozen=True)
class ChoiceDetails:
    """What the customer gave with the choice; which fields matter depends on the gift."""

    recipient_name: str = ""
    address: str = ""
    store_id: int | None = None
    extra: dict[str, str] | None = None


def stores_for(*, invitation: Invitation):
    """Pickup stores for a member: those of the district, else those of the province."""
    stores = Store.objects.filter(active=True, province=invitation.province)
    in_district = stores.filter(district=invitation.district)
    return in_district if in_district.exists() else stores


def _clean_details(
    *, gift: Gift, invitation: Invitation, details: ChoiceDetails
) -> dict[str, Any]:
    cleaned: dict[str, Any] = {
        "recipient_name": details.recipient_name.strip()[:200],
        "address": "",
        "store": None,
        "details": {},
    }
    if gift.needs_address:
        address = " ".join(details.address.split())
        if len(address) < 10:
            raise DomainError(
                _(
                    "Give the full delivery address: house number, street, ward, district."
                )
            )
        cleaned["address"] = address[:300]
    if gift.needs_store:
        store = (
            stores_for(invitation=invitation).filter(pk=details.store_id).first()
            if details.store_id
            else None
        )
        if store is None:
            raise DomainError(_("Pick one of the stores listed for your district."))
        cleaned["store"] = store
    extra = details.extra or {}
    for key, label in gift.detail_fields():
        value = " ".join(str(extra.get(key, "")).split())
        if not value:
            raise DomainError(_("Fill in: %(field)s.") % {"field": label})
        cleaned["details"][key] = value[:200]
    unknown = set(extra) - set(EXTRA_DETAIL_FIELDS)
    if unknown:
        raise DomainError(
            _("The form was not sent as the site made it. Reload the page.")
        )
    return cleaned


def _choice_code() -> str:
    return "".join(secrets.choice(CODE_ALPHABET) for _ in range(CODE_LENGTH))


def choice_make(
    *,
    invitation: Invitation,
    gift_id: int,
    revision: int,
    details: ChoiceDetails,
    agent=None,
    now: datetime | None = None,
) -> Choice:
    """Record the member's gift (or change it), taking one unit of its stock.

    Refused with a DomainError, and nothing changed, when: the offer is over or the
    deadline passed; the choice cannot be changed; the form was drawn before the last
    choice (`revision`: a second tab or a replayed form); the gift is not in the
    member's catalogue; a detail is missing; no unit is left (OutOfStock). `agent` is
    a call agent choosing on the member's behalf, recorded on the choice and event;
    with the "call" policy agents may still choose for `call_days` after the deadline.
    """
    now = now or timezone.now()
    with transaction.atomic():
        locked = Invitation.objects.for_site(invitation.pk, lock=True)
        campaign = locked.campaign
        gift_settings = campaign.gift_settings
        _check_can_choose(
            invitation=locked, gift_settings=gift_settings, agent=agent, now=now
        )
        if revision != locked.revision:
            raise DomainError(
                _(
                    "Your choice was already made or changed in another window. "
                    "Here is what is recorded now."
                )
            )
        # The gift and its stock rows in one query (a gift without stock is gone).
        stocks = list(
            GiftStock.objects.select_related("gift").filter(
                gift_id=gift_id, gift__campaign_id=campaign.pk
            )
        )
        gift = (
            stocks[0].gift
            if stocks
            else Gift.objects.filter(pk=gift_id, campaign=campaign).order_by().first()
        )
        if gift is None or not gift.offered_to(locked.tier):
            raise DomainError(_("This gift is not offered to you."))
        cleaned = _clean_details(gift=gift, invitation=locked, details=details)
        previous = None
        if locked.status != Status.ISSUED:
            previous = (
                Choice.objects.filter(invitation=locked)
                .select_related("gift")
                .order_by()
                .first()
            )
        if previous and not gift_settings.allow_change and agent is None:
            raise DomainError(_("Your choice is recorded and cannot be changed."))
        stock = stock_for(
            gift=gift, tier=locked.tier, province=locked.province, stocks=stocks
        )
        if stock is None:
            raise _out_of_stock(gift)
        previous_stock_id = previous.stock_id if previous else None
        moves_unit = previous_stock_id != stock.pk
        before = _choice_summary(previous) if previous else None
        choice = previous or Choice(
            invitation=locked, code=_choice_code(), chosen_at=now
        )
        choice.gift = gift
        choice.stock = stock
        choice.recipient_name = cleaned["recipient_name"]
        choice.address = cleaned["address"]
        choice.address_from_records = False
        choice.store = cleaned["store"]
        choice.details = cleaned["details"]
        choice.chosen_by_agent = agent
        choice.auto_assigned = False
        if previous:
            choice.changed_at = now
        choice.save()
        if locked.status != Status.CHOSEN:
            locked.move_to(Status.CHOSEN)
        locked.revision += 1
        Invitation.objects.filter(pk=locked.pk).update(
            status=locked.status, revision=locked.revision
        )
        _event(
            invitation_id=locked.pk,
            kind=Kind.CHANGED if previous else Kind.CHOSEN,
            actor=agent,
            data={
                "choice": _choice_summary(choice),
                "before": before,
                "by_agent": agent is not None,
            },
        )
        if moves_unit:
            # The stock rows are the hot rows of the burst: everyone choosing a gift
            # queues on its row lock until the holder commits. So they are touched
            # last, just before the commit, and in id order so that two customers
            # swapping the same two gifts cannot deadlock. An empty row rolls back
            # everything above.
            moves = [(stock.pk, -1)]
            if previous_stock_id is not None:
                moves.append((previous_stock_id, +1))
            for stock_id, delta in sorted(moves):
                if delta < 0 and not stock_take(stock_id=stock_id):
                    raise _out_of_stock(gift)
                if delta > 0:
                    stock_give_back(stock_id=stock_id)
            _campaign_close_if_gifts_gone(campaign=campaign)
    return choice


def _out_of_stock(gift: Gift) -> OutOfStock:
    return OutOfStock(
        _("Sorry, %(gift)s is all gone. Please choose another gift.")
        % {"gift": gift.name}
    )


def _check_can_choose(
    *, invitation: Invitation, gift_settings: GiftSettings, agent, now
) -> None:
    if invitation.campaign.status not in CHOOSING_STATUSES:
        raise DomainError(_("The offer has ended."))
    deadline = invitation.deadline
    if agent is not None and gift_settings.no_choice_policy == NoChoicePolicy.CALL:
        deadline += timedelta(days=gift_settings.call_days)
    if now > deadline:
        raise DomainError(
            _("The offer ended at %(deadline)s.")
            % {"deadline": deadline_text(deadline)}
        )
    allowed = {Status.ISSUED, Status.CHOSEN}
    if agent is not None:
        allowed.add(Status.EXPIRED)
    if invitation.status not in allowed:
        raise DomainError(
            _("This invitation is %(status)s.")
            % {"status": invitation.get_status_display()}
        )


def _choice_summary(choice: Choice) -> dict[str, Any]:
    return {
        "gift": choice.gift_id,
        "gift_name": choice.gift.name,
        "code": choice.code,
        "address": choice.address,
        "store": choice.store_id,
        "details": choice.details,
    }


# --- After the deadline ----------------------------------------------------------------


def _auto_gift_for(
    *, invitation: Invitation, gifts: list[Gift]
) -> tuple[Gift, GiftStock, Store | None] | None:
    """Take a unit of the first gift, in catalogue order, that needs nothing from the
    customer and has a unit left; None when none does."""
    for gift in gifts:
        if not gift.offered_to(invitation.tier) or gift.extra_details:
            continue
        store = None
        if gift.needs_store:
            store = stores_for(invitation=invitation).first()
            if store is None:
                continue
        stock = stock_for(gift=gift, tier=invitation.tier, province=invitation.province)
        if stock is not None and stock_take(stock_id=stock.pk):
            return gift, stock, store
    return None


def invitations_close_due(
    *, campaign: Campaign, now: datetime | None = None, chunk_size: int = 500
) -> dict[str, int]:
    """Settle invitations whose time is up: assign a gift or mark them expired.

    With the auto-assign policy each member who did not choose gets the first gift of
    their catalogue that needs no details and has a unit left (delivered to the
    address on record, or to a store of the district); otherwise, or when nothing is
    left, the invitation expires. With the "call" policy this waits until agents'
    extra days are over. Rows are claimed with SKIP LOCKED, in id order, so a sweep
    running twice never settles one twice nor waits on a customer mid-choice.
    """
    now = now or timezone.now()
    gift_settings = gift_settings_for(campaign)
    cutoff = now
    if gift_settings.no_choice_policy == NoChoicePolicy.CALL:
        cutoff = now - timedelta(days=gift_settings.call_days)
    gifts = list(
        Gift.objects.filter(campaign=campaign, active=True).prefetch_related("stocks")
    )
    counts = {"assigned": 0, "expired": 0}
    while True:
        with transaction.atomic():
            due = list(
                Invitation.objects.filter(campaign=campaign)
                .due(cutoff)
                .select_for_update(skip_locked=True)
                .order_by("pk")[:chunk_size]
            )
            if not due:
                break
            for invitation in due:
                picked = None
                if gift_settings.no_choice_policy == NoChoicePolicy.AUTO_ASSIGN:
                    picked = _auto_gift_for(invitation=invitation, gifts=gifts)
                if picked is None:
                    invitation.move_to(Status.EXPIRED)
                    invitation.save(update_fields=["status"])
                    _event(invitation_id=invitation.pk, kind=Kind.EXPIRED)
                    counts["expired"] += 1
                    continue
                gift, stock, store = picked
                choice = Choice.objects.create(
                    invitation=invitation,
                    gift=gift,
                    stock=stock,
                    code=_choice_code(),
                    recipient_name=invitation.member.full_name,
                    address_from_records=gift.needs_address,
                    store=store,
                    auto_assigned=True,
                    chosen_at=now,
                )
                invitation.move_to(Status.ASSIGNED)
                invitation.revision += 1
                invitation.save(update_fields=["status", "revision"])
                _event(
                    invitation_id=invitation.pk,
                    kind=Kind.ASSIGNED,
                    data={"choice": _choice_summary(choice)},
                )
                counts["assigned"] += 1
            if counts["assigned"]:
                _campaign_close_if_gifts_gone(campaign=campaign)
    return counts

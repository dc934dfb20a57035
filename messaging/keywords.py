"""Inbound SMS keywords: a registry of handlers, and the portal's own ones.

The first word of an inbound text, upper-cased and without marks ("Hủy" -> "HUY"),
picks the handler registered for it (and for the short code it was sent to, when the
handler names some). Another app adds its own with::

    from messaging import keywords

    @keywords.register("TSTN", short_codes={"9231"}, replace=True)
    def home_visit_request(inbound):
        ...  # write what the request means; return an InboundMessage.Outcome

Without a registered replacement, TSTN sends the `home_visit_requested` signal, so a
receiver can act on it; if none does, the request waits in the inbound list with the
outcome "waiting for a handler". A text with no matching handler gets the help reply.
Every reply goes through the outbox like any other message.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from django.dispatch import Signal
from django.utils import timezone

from messaging.encoding import strip_diacritics
from messaging.models import DoNotContact, InboundMessage, LoyaltySignup, Purpose

LOYALTY_SHORT_CODE = "9237"
HOME_VISIT_SHORT_CODE = "9231"

# Sent for TSTN with `inbound=`; a receiver that took the request returns True.
home_visit_requested = Signal()
# Sent after every inbound message is routed, with `inbound=`.
inbound_routed = Signal()

# Customer-facing SMS texts (Vietnamese, sent without marks). Staff override any of
# them with a portal-wide template of the same purpose and variant.
REPLIES = {
    "help": (
        "(CSKH) Cu phap chua dung. Soan DK gui 9237 de dang ky CT Ket noi dai lau; "
        "TSTN gui 9231 de dang ky thay SIM 4G tai nha; TC gui so nay de tu choi "
        "nhan tin. Chi tiet goi 9090."
    ),
    "dk": (
        "(CSKH) MobiFone da nhan yeu cau dang ky CT Ket noi dai lau cua Quy khach. "
        "Soan XN gui 9237 de xac nhan dang ky (mien phi). Chi tiet goi 9090."
    ),
    "xn": (
        "(CSKH) Chuc mung Quy khach da dang ky thanh cong CT Ket noi dai lau. "
        "Doi diem tich luy tren app My MobiFone hoac goi 9090."
    ),
    "xn_without_dk": (
        "(CSKH) Quy khach chua dang ky CT Ket noi dai lau. Soan DK gui 9237, sau do "
        "soan XN gui 9237 de xac nhan (mien phi)."
    ),
    "opt_out": (
        "(CSKH) MobiFone da ghi nhan yeu cau tu choi nhan tin nhan quang cao cua "
        "Quy khach. Chi tiet goi 9090."
    ),
    "tstn": (
        "(CSKH) MobiFone da nhan yeu cau thay SIM 4G tai nha cua Quy khach. Tong dai "
        "9090 se lien he xac nhan dia chi trong vong 48 gio. Tran trong cam on."
    ),
}


@dataclass(frozen=True)
class KeywordHandler:
    keyword: str
    handler: Callable[[InboundMessage], str]
    short_codes: frozenset[str] | None = None


_registry: dict[str, KeywordHandler] = {}


def register(
    keyword: str, *, short_codes: set[str] | None = None, replace: bool = False
):
    """Decorator: handle inbound texts starting with `keyword`."""
    key = normalize_keyword(keyword)

    def decorate(handler):
        if key in _registry and not replace:
            raise ValueError(f"Keyword {key} already has a handler")
        _registry[key] = KeywordHandler(
            key, handler, frozenset(short_codes) if short_codes else None
        )
        return handler

    return decorate


def handler_for(keyword: str) -> KeywordHandler | None:
    return _registry.get(normalize_keyword(keyword))


def normalize_keyword(word: str) -> str:
    return strip_diacritics(word).strip().upper()


def keyword_of(text: str) -> str:
    words = text.split()
    return normalize_keyword(words[0])[:30] if words else ""


def _reply(inbound: InboundMessage, variant: str) -> None:
    from messaging.services import reply_enqueue

    purpose = Purpose.HELP_REPLY if variant == "help" else Purpose.OTHER
    reply_enqueue(
        inbound=inbound,
        purpose=purpose,
        variant="" if variant == "help" else variant,
        default_text=REPLIES[variant],
    )


def route(inbound: InboundMessage) -> None:
    """Run the handler for `inbound`'s keyword; sets its outcome (caller saves)."""
    handler = _registry.get(inbound.keyword)
    if handler and (
        handler.short_codes is None or inbound.short_code in handler.short_codes
    ):
        inbound.outcome = handler.handler(inbound) or InboundMessage.Outcome.HANDLED
    else:
        _reply(inbound, "help")
        inbound.outcome = InboundMessage.Outcome.UNKNOWN_KEYWORD
    inbound_routed.send(sender=InboundMessage, inbound=inbound)


# --- The portal's own keywords -------------------------------------------------------


def opt_out(inbound: InboundMessage) -> str:
    from messaging.services import do_not_contact_add

    do_not_contact_add(
        msisdn=inbound.msisdn,
        source=DoNotContact.Source.OPT_OUT,
        note=f"{inbound.text[:60]} → {inbound.short_code}",
    )
    _reply(inbound, "opt_out")
    return InboundMessage.Outcome.HANDLED


def loyalty_request(inbound: InboundMessage) -> str:
    signup, created = LoyaltySignup.objects.get_or_create(
        msisdn=inbound.msisdn, defaults={"requested_at": inbound.received_at}
    )
    inbound.note = "sign-up requested" if created else "sign-up requested again"
    _reply(inbound, "dk")
    return InboundMessage.Outcome.HANDLED


def loyalty_confirm(inbound: InboundMessage) -> str:
    signup = (
        LoyaltySignup.objects.select_for_update().filter(msisdn=inbound.msisdn).first()
    )
    if signup is None:
        inbound.note = "confirmation without a sign-up request"
        _reply(inbound, "xn_without_dk")
        return InboundMessage.Outcome.HANDLED
    if signup.confirmed_at is None:
        signup.confirmed_at = timezone.now()
        signup.save(update_fields=["confirmed_at"])
    inbound.note = "sign-up confirmed"
    _reply(inbound, "xn")
    return InboundMessage.Outcome.HANDLED


def home_visit_request(inbound: InboundMessage) -> str:
    answers = home_visit_requested.send(sender=InboundMessage, inbound=inbound)
    _reply(inbound, "tstn")
    if any(result for _receiver, result in answers):
        return InboundMessage.Outcome.HANDLED
    inbound.note = "no home-visit handler registered yet"
    return InboundMessage.Outcome.PENDING


register("TC")(opt_out)
register("HUY")(opt_out)
register("DK", short_codes={LOYALTY_SHORT_CODE})(loyalty_request)
register("XN", short_codes={LOYALTY_SHORT_CODE})(loyalty_confirm)
register("TSTN", short_codes={HOME_VISIT_SHORT_CODE})(home_visit_request)

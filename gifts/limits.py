"""Login limits kept in the cache: a per-address throttle and the staff alarm.

The lockout that bounds guessing is per invitation, in the database (services.
invitation_login). These counters only slow a spray across many numbers and tell
staff it is happening. Subscribers reach the site through the operator's
carrier-grade NAT, where thousands share one public address, so an address is never
locked out: it is throttled for the rest of one minute, and only past a number of
failures (GIFTS_IP_FAILURES_PER_MINUTE, default 300) about ten times what the whole
invited population behind one address would produce right after the SMS (10,000
logins in the first hour with one in five mistyped is 33 failures a minute).

Fixed one-minute windows with cache.add + cache.incr: atomic on Redis, no library
needed for two counters.
"""

from __future__ import annotations

import logging
import time

from django.conf import settings
from django.core.cache import cache

logger = logging.getLogger(__name__)

ALARM_WINDOW_MINUTES = 5


def _minute() -> int:
    return int(time.time() // 60)


def client_address(request) -> str:
    header = settings.GIFTS_CLIENT_IP_HEADER
    if header and request.META.get(header):
        # The proxy's header may list a chain; the first is the client it saw.
        return request.META[header].split(",")[0].strip()
    return request.META.get("REMOTE_ADDR", "")


def _incr(key: str, ttl: int) -> int:
    cache.add(key, 0, ttl)
    try:
        return cache.incr(key)
    except ValueError:
        cache.add(key, 1, ttl)
        return 1


def address_throttled(request) -> bool:
    """Whether this address used up its failures for the current minute."""
    key = f"gifts:ip-failures:{client_address(request)}:{_minute()}"
    return (cache.get(key) or 0) >= settings.GIFTS_IP_FAILURES_PER_MINUTE


def login_failure_record(request) -> None:
    """Count a failed login against its address and the site as a whole."""
    minute = _minute()
    _incr(f"gifts:ip-failures:{client_address(request)}:{minute}", 120)
    total = _incr(f"gifts:failures:{minute}", ALARM_WINDOW_MINUTES * 60 + 60)
    if total == settings.GIFTS_FAILURE_ALARM_PER_MINUTE:
        logger.warning(
            "Gift site: %s failed logins this minute; someone may be guessing "
            "passwords.",
            total,
        )


def failure_alarm() -> tuple[int, int] | None:
    """(failures in the last minutes, minutes) when any minute passed the threshold."""
    minute = _minute()
    counts = cache.get_many(
        [f"gifts:failures:{minute - back}" for back in range(ALARM_WINDOW_MINUTES)]
    )
    values = [value for value in counts.values() if value]
    if any(value >= settings.GIFTS_FAILURE_ALARM_PER_MINUTE for value in values):
        return sum(values), ALARM_WINDOW_MINUTES
    return None

"""A per-address limit on the public request form, kept in the cache.

The form writes rows and an agent's call for each, so a script posting it in a loop
would fill the agents' queues. Customers reach the site through the operator's NAT,
where many share one address, so the limit is generous
(SERVICEREQUESTS_FORM_PER_HOUR, default 30) and lasts at most an hour: fixed
one-hour windows with cache.add + cache.incr, atomic on Redis.
"""

from __future__ import annotations

import time

from django.conf import settings
from django.core.cache import cache

from gifts.limits import client_address


def _limit() -> int:
    return getattr(settings, "SERVICEREQUESTS_FORM_PER_HOUR", 30)


def _key(request) -> str:
    return f"servicerequests:form:{client_address(request)}:{int(time.time() // 3600)}"


def form_throttled(request) -> bool:
    return (cache.get(_key(request)) or 0) >= _limit()


def form_submission_record(request) -> None:
    key = _key(request)
    cache.add(key, 0, 3700)
    try:
        cache.incr(key)
    except ValueError:
        cache.add(key, 1, 3700)

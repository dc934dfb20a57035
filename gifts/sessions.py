"""Customer sessions on the gift site: in the cache, apart from staff sessions.

A login burst must not write the database on every request, so the customer's
session is one cache entry under its own cookie, which also keeps it apart from a
staff login in the same browser. It ends after GIFTS_SESSION_IDLE_SECONDS without a
request (the entry's expiry) and GIFTS_SESSION_MAX_SECONDS after the login whatever
happens. The idle clock is pushed forward at most once a minute, so a page costs
one cache read and a busy customer one cache write a minute.

The entry is written straight through the cache API rather than Django's cache
session store: the store checks a new key for collisions with a second round trip,
and on this path every round trip to Redis costs as much CPU as the page's query.
A key of 32 random characters (190 bits) does not collide.
"""

from __future__ import annotations

import time

from django.conf import settings
from django.core.cache import cache
from django.utils.crypto import get_random_string

REFRESH_SECONDS = 60
KEY_CHARS = "abcdefghijklmnopqrstuvwxyz0123456789"


def _cache_key(session_key: str) -> str:
    return f"gifts:session:{session_key}"


def session_start(response, *, invitation_id: int) -> None:
    """A new session (new key: no fixation) holding the invitation; sets the cookie."""
    now = int(time.time())
    session_key = get_random_string(32, KEY_CHARS)
    cache.set(
        _cache_key(session_key),
        {"invitation": invitation_id, "started": now, "seen": now},
        settings.GIFTS_SESSION_IDLE_SECONDS,
    )
    response.set_cookie(
        settings.GIFTS_SESSION_COOKIE_NAME,
        session_key,
        max_age=settings.GIFTS_SESSION_MAX_SECONDS,
        path=settings.GIFTS_SESSION_COOKIE_PATH,
        secure=settings.SESSION_COOKIE_SECURE,
        httponly=True,
        samesite="Lax",
    )


def session_invitation_id(request) -> int | None:
    """The invitation of a live session, or None (expired, ended or absent)."""
    session_key = request.COOKIES.get(settings.GIFTS_SESSION_COOKIE_NAME)
    if not session_key or len(session_key) != 32 or not session_key.isalnum():
        return None
    key = _cache_key(session_key)
    data = cache.get(key)
    if not data:
        return None
    now = int(time.time())
    if now - data["started"] > settings.GIFTS_SESSION_MAX_SECONDS:
        cache.delete(key)
        return None
    if now - data["seen"] > REFRESH_SECONDS:
        data["seen"] = now
        cache.set(key, data, settings.GIFTS_SESSION_IDLE_SECONDS)
    return data["invitation"]


def session_end(request, response) -> None:
    session_key = request.COOKIES.get(settings.GIFTS_SESSION_COOKIE_NAME)
    if session_key:
        cache.delete(_cache_key(session_key))
    response.delete_cookie(
        settings.GIFTS_SESSION_COOKIE_NAME, path=settings.GIFTS_SESSION_COOKIE_PATH
    )

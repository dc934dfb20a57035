"""Reads of the messaging state that pages show."""

from __future__ import annotations

from django.utils import timezone

from messaging.backends import zalo
from messaging.models import ZaloOaToken


def zalo_token_needing_attention(*, now=None) -> ZaloOaToken | None:
    """The configured app's stored token when staff must act on it, else None.

    Beat renews the token every ten minutes before it expires and tries again after
    a refusal, so one failure is not yet a problem; but a refusal usually means the
    refresh token itself is spent or revoked, which only a person can fix by
    entering a new pair, and ZNS stops once the access token expires.
    """
    config = zalo.zalo_settings()
    if not zalo.token_refresh_configured(config):
        return None
    token = ZaloOaToken.objects.filter(app_id=config["APP_ID"]).first()
    if token is None or not token.needs_attention(now=now or timezone.now()):
        return None
    return token

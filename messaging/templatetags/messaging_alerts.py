"""Alerts the admin shows on every page to the staff who can act on them."""

from django import template
from django.utils import timezone

from messaging import selectors

register = template.Library()


@register.inclusion_tag("admin/messaging/zalo_token_alert.html", takes_context=True)
def zalo_token_alert(context):
    request = context.get("request")
    user = getattr(request, "user", None)
    # Only those who may enter a new token pair see it: it is theirs to act on.
    if user is None or not user.has_perm("messaging.change_zalooatoken"):
        return {"token": None}
    now = timezone.now()
    token = selectors.zalo_token_needing_attention(now=now)
    return {"token": token, "expired": bool(token and token.has_expired(now=now))}

"""Endpoints the SMS gateway calls: delivery reports and inbound SMS (MO).

Kannel calls them with GET (its dlr-url and sms-service get-url). They are not staff
pages: a shared token in the URL (`MESSAGING_GATEWAY_TOKEN`) is the credential, so
nobody else can forge reports or inbound messages.
"""

from __future__ import annotations

import hmac

from django.conf import settings
from django.http import HttpResponse, HttpResponseBadRequest, HttpResponseForbidden
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_GET

from messaging import services
from messaging.backends.kannel import DLR_TYPES


def _authorised(request) -> bool:
    token = request.GET.get("token", "")
    expected = settings.MESSAGING_GATEWAY_TOKEN
    return bool(expected) and hmac.compare_digest(token, expected)


@csrf_exempt
@require_GET
def kannel_dlr(request):
    """One delivery report: ?ref=<our id>&type=<Kannel DLR type>&part=<SMSC id>."""
    if not _authorised(request):
        return HttpResponseForbidden("bad token")
    reference = request.GET.get("ref", "")
    kind = request.GET.get("type", "")
    if not reference or not kind:
        return HttpResponseBadRequest("ref and type are required")
    services.delivery_report_record(
        reference=reference,
        outcome=DLR_TYPES.get(kind, "failed"),
        part=request.GET.get("part", ""),
        code=kind,
        reason=request.GET.get("reply", ""),
    )
    return HttpResponse("OK", content_type="text/plain")


@csrf_exempt
@require_GET
def kannel_mo(request):
    """One inbound SMS: ?id=<Kannel id>&from=<number>&to=<short code>&text=<text>.

    The answer is empty: replies go through the outbox (the sms-service must have
    `max-messages = 0` so Kannel does not turn this response into an SMS).
    """
    if not _authorised(request):
        return HttpResponseForbidden("bad token")
    gateway_id = request.GET.get("id", "")
    sender = request.GET.get("from", "")
    if not gateway_id or not sender:
        return HttpResponseBadRequest("id and from are required")
    services.inbound_receive(
        gateway_id=f"kannel:{gateway_id}",
        msisdn=sender,
        short_code=request.GET.get("to", ""),
        text=request.GET.get("text", ""),
    )
    return HttpResponse("", content_type="text/plain")

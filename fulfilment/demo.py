"""Demo data for fulfilment: a delivery partner for programme 000 with a few orders.

The partner login is the demo user "doitac". Forty members of 000 choose a gift to be
delivered (through the gift site's own service); their windows are then treated as
closed, the orders released, and a result file of ten rows applied, so the partner
pages, the result SMS and the dashboard all have something to show.
"""

from __future__ import annotations

import csv
import tempfile
from datetime import timedelta
from pathlib import Path

from django.contrib.auth import get_user_model
from django.utils import timezone

from campaigns.models import Campaign
from fulfilment import services
from fulfilment.models import (
    FulfilmentSettings,
    Order,
    Partner,
    PartnerAssignment,
    PartnerUser,
)
from gifts import services as gift_services
from gifts.models import Gift, GiftKind, Invitation

PARTNER_CODE = "giao-hang-demo"
CHOOSERS = 40
RESULTS = 10


def demo_load(*, say=print) -> None:
    campaign = Campaign.objects.filter(code__startswith="000").order_by("code").first()
    if campaign is None:
        return
    partner, _created = Partner.objects.get_or_create(
        code=PARTNER_CODE,
        defaults={"name": "Công ty Giao hàng Demo", "contact": "0281234567"},
    )
    user = get_user_model().objects.filter(username="doitac").first()
    if user is not None and not PartnerUser.objects.filter(user=user).exists():
        PartnerUser.objects.create(partner=partner, user=user)
    FulfilmentSettings.objects.get_or_create(campaign=campaign)
    if not PartnerAssignment.objects.filter(campaign=campaign).exists():
        services.partner_assign(
            campaign=campaign, partner=partner, channel=GiftKind.HOME_DELIVERY
        )
    if Order.objects.filter(campaign=campaign).exists():
        return
    gifts = list(
        Gift.objects.filter(campaign=campaign, kind=GiftKind.HOME_DELIVERY, active=True)
    )
    invitations = list(
        Invitation.objects.filter(campaign=campaign, status=Invitation.Status.ISSUED)
        .select_related("member")
        .order_by("pk")[1 : CHOOSERS + 1]  # the first is the demo customer's login
    )
    if not gifts or not invitations:
        return
    for index, invitation in enumerate(invitations):
        site_view = Invitation.objects.for_site(invitation.pk)
        try:
            gift_services.choice_make(
                invitation=site_view,
                gift_id=gifts[index % len(gifts)].pk,
                revision=site_view.revision,
                details=gift_services.ChoiceDetails(
                    recipient_name=invitation.member.full_name,
                    address=f"{index + 1} Nguyễn Huệ, Phường Bến Nghé, Quận 1, TP.HCM",
                ),
            )
        except Exception as error:  # noqa: BLE001 - a demo goes on without one member
            say(f"  fulfilment demo: {invitation.msisdn} not chosen: {error}")
    # As if these members' three days were over: their choices are final.
    closed = timezone.now() - timedelta(days=2)
    Invitation.objects.filter(
        pk__in=[i.pk for i in invitations], status=Invitation.Status.CHOSEN
    ).update(deadline=closed)
    created = services.orders_release(campaign=campaign)["created"]
    say(f"  {campaign.code}: {created} orders for {partner.name} (login doitac)")
    orders = list(Order.objects.filter(campaign=campaign).order_by("pk")[:RESULTS])
    if not orders:
        return
    day = services.local_today().strftime("%d/%m/%Y")
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "ket-qua-demo.csv"
        with open(path, "w", newline="", encoding="utf-8") as out:
            writer = csv.writer(out)
            writer.writerow(["Mã đơn", "Kết quả", "Ngày", "Lý do"])
            for index, order in enumerate(orders):
                failed = index % 3 == 2
                writer.writerow(
                    [
                        order.code,
                        "Thất bại" if failed else "Đã giao",
                        day,
                        "không liên lạc được" if failed else "",
                    ]
                )
        actor = user or get_user_model().objects.filter(is_superuser=True).first()
        upload = services.result_upload_check(
            partner=partner,
            campaign=campaign,
            path=path,
            original_name=path.name,
            actor=actor,
        )
        result = services.result_upload_apply(upload=upload, actor=actor)
    say(f"  {campaign.code}: {result.changed} delivery results applied")

"""Demo catalogues: gifts, stock and stores for the seed programmes.

`demo_load_gifts(campaign)` is idempotent: a gift or store already there (by code) is
left as staff may have changed it.
"""

from __future__ import annotations

from campaigns.models import Campaign, SelectionRun
from gifts import services
from gifts.models import (
    Gift,
    GiftKind,
    GiftSettings,
    GiftStock,
    Invitation,
    NoChoicePolicy,
    Store,
)

# The demo customer's password, so whoever tries the demo can log in on the gift site
# (every other invited member has a random one, as in production).
DEMO_CUSTOMER_PASSWORD = "MB2468"

STORES = [
    # code, name, address, province, district, opening hours
    (
        "hcm-q1",
        "Cửa hàng MobiFone Quận 1",
        "5 Nguyễn Thị Minh Khai, P. Bến Nghé",
        "TP Hồ Chí Minh",
        "Quận 1",
        "7:30–21:00",
    ),
    (
        "hcm-q3",
        "Cửa hàng MobiFone Quận 3",
        "233 Nam Kỳ Khởi Nghĩa, P. 7",
        "TP Hồ Chí Minh",
        "Quận 3",
        "7:30–21:00",
    ),
    (
        "hcm-binh-thanh",
        "Cửa hàng MobiFone Bình Thạnh",
        "124 Xô Viết Nghệ Tĩnh, P. 21",
        "TP Hồ Chí Minh",
        "Quận Bình Thạnh",
        "8:00–20:00",
    ),
    (
        "hcm-thu-duc",
        "Cửa hàng MobiFone Thủ Đức",
        "10 Võ Văn Ngân, P. Linh Chiểu",
        "TP Hồ Chí Minh",
        "TP Thủ Đức",
        "8:00–20:00",
    ),
    (
        "ct-ninh-kieu",
        "Trung tâm giao dịch MobiFone Ninh Kiều",
        "46 Hùng Vương, P. Thới Bình",
        "Cần Thơ",
        "Quận Ninh Kiều",
        "7:30–20:30",
    ),
    (
        "ct-cai-rang",
        "Cửa hàng MobiFone Cái Răng",
        "88 Trần Hưng Đạo, P. Lê Bình",
        "Cần Thơ",
        "Quận Cái Răng",
        "7:30–17:00",
    ),
]

# code prefix of the programme -> gifts: code, name, value, kind, tiers, units, details
CATALOGUES = {
    "000": [
        (
            "noi-com-dien",
            "Nồi cơm điện 1,8 lít",
            500_000,
            GiftKind.HOME_DELIVERY,
            [],
            400,
            [],
        ),
        (
            "bo-noi-inox",
            "Bộ nồi inox 3 chiếc",
            500_000,
            GiftKind.HOME_DELIVERY,
            [],
            300,
            [],
        ),
        (
            "the-cao-500k",
            "Thẻ nạp 500.000 đ (e-voucher)",
            500_000,
            GiftKind.E_VOUCHER,
            [],
            300,
            [],
        ),
    ],
    "001": [
        (
            "vali-keo",
            "Vali kéo du lịch",
            900_000,
            GiftKind.HOME_DELIVERY,
            ["nhom-1"],
            200,
            [],
        ),
        (
            "hop-hut-chan-khong",
            "Hộp thực phẩm hút chân không",
            350_000,
            GiftKind.STORE_PICKUP,
            ["nhom-2"],
            500,
            [],
        ),
        ("o-gap", "Ô gấp hai", 250_000, GiftKind.STORE_PICKUP, ["nhom-2"], 500, []),
    ],
    "002": [
        (
            "qua-a-bao-hiem-xe",
            "Quà A: bảo hiểm TNDS xe máy 1 năm",
            66_000,
            GiftKind.INSURANCE,
            [],
            1000,
            ["vehicle_registration", "vehicle_owner"],
        ),
        (
            "qua-b-binh-giu-nhiet",
            "Quà B: bình giữ nhiệt (giao tận nhà)",
            300_000,
            GiftKind.HOME_DELIVERY,
            [],
            500,
            [],
        ),
        (
            "qua-c-ao-mua",
            "Quà C: áo mưa (nhận tại cửa hàng)",
            120_000,
            GiftKind.STORE_PICKUP,
            [],
            800,
            [],
        ),
    ],
}

DESCRIPTIONS = {
    GiftKind.HOME_DELIVERY: "Giao tận nhà trong 5 ngày sau khi kết thúc chọn quà.",
    GiftKind.STORE_PICKUP: "Nhận tại cửa hàng MobiFone bạn chọn, mang theo mã nhận quà.",
    GiftKind.E_VOUCHER: "Mã thẻ gửi qua SMS sau khi kết thúc chọn quà.",
    GiftKind.INSURANCE: "Hợp đồng bảo hiểm gửi qua SMS/Zalo trong 2 ngày làm việc.",
}


def demo_load_stores() -> None:
    for code, name, address, province, district, hours in STORES:
        Store.objects.get_or_create(
            code=code,
            defaults={
                "name": name,
                "address": address,
                "province": province,
                "district": district,
                "opening_hours": hours,
            },
        )


def demo_load_gifts(campaign) -> list[Gift]:
    """The demo catalogue of `campaign` (000, 001 or 002 by code prefix) and stores.

    000: gifts worth 500.000 đ each, chosen online within 3 days;
    001: a trolley bag for tier nhom-1 (home delivery) and a food box or umbrella for
    nhom-2 (store pickup); 002: points gifts A/B/C, A being an insurance that needs
    the vehicle registration. Other campaigns get no gifts.
    """
    demo_load_stores()
    catalogue = CATALOGUES.get(campaign.code[:3], [])
    if not catalogue:
        return []
    GiftSettings.objects.get_or_create(
        campaign=campaign,
        defaults={
            "choice_window_days": 3,
            "allow_change": True,
            "no_choice_policy": (
                NoChoicePolicy.CALL
                if campaign.code.startswith("002")
                else NoChoicePolicy.NOTHING
            ),
            # Only 000 asks members to choose online; 001 hands gifts over in stores
            # and on visits, 002's agents choose with the member on the phone.
            "invite_on_approval": campaign.code.startswith("000"),
        },
    )
    gifts = []
    for position, (code, name, value, kind, tiers, units, details) in enumerate(
        catalogue
    ):
        gift, created = Gift.objects.get_or_create(
            campaign=campaign,
            code=code,
            defaults={
                "name": name,
                "value_vnd": value,
                "kind": kind,
                "tiers": tiers,
                "extra_details": details,
                "description": DESCRIPTIONS.get(kind, ""),
                "position": position,
            },
        )
        if created:
            GiftStock.objects.create(gift=gift, total=units, remaining=units)
        gifts.append(gift)
    return gifts


def demo_load(*, say=print) -> None:
    """Catalogues for the seed programmes; 000's approved list invited, one known login."""
    for campaign in Campaign.objects.order_by("code"):
        demo_load_gifts(campaign)
    for settings in GiftSettings.objects.filter(invite_on_approval=True).select_related(
        "campaign"
    ):
        run = settings.campaign.selection_runs.filter(
            status=SelectionRun.Status.APPROVED
        ).first()
        if run is None or Invitation.objects.filter(run=run).exists():
            continue
        result = services.invitations_issue(run=run)
        say(f"  {settings.campaign.code}: {result.created} members invited by SMS")
        invitation = Invitation.objects.filter(run=run).order_by("pk").first()
        if invitation is None:
            continue
        Invitation.objects.filter(pk=invitation.pk).update(
            password_hash=services.password_hash(
                campaign_id=invitation.campaign_id,
                msisdn=invitation.msisdn,
                password=DEMO_CUSTOMER_PASSWORD,
            )
        )
        say(
            f"  Gift site /qua/: phone 0{invitation.msisdn[2:]}, "
            f"password {DEMO_CUSTOMER_PASSWORD}"
        )

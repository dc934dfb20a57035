"""The seed programmes' messages as templates, for the demo (shared/seeds/*.txt).

`demo_load_templates()` is idempotent: a template already there (same campaign,
purpose, variant and channel) is left as staff may have edited it. Campaigns that do
not exist yet are skipped.
"""

from __future__ import annotations

from datetime import datetime, time, timedelta
from zoneinfo import ZoneInfo

from django.db import transaction

from campaigns.models import Campaign
from messaging.models import (
    Channel,
    MessageTemplate,
    MessagingSettings,
    Purpose,
    Schedule,
)

LOCAL = ZoneInfo("Asia/Ho_Chi_Minh")

# (campaign code, purpose, variant, channel, sender, service message, text)
TEMPLATES = [
    # 000: SMS 1 (invitation with the password), SMS 2a / 2b (delivery results).
    (
        "000-lau-nam-hcm",
        Purpose.INVITATION,
        "",
        Channel.SMS,
        "MobiFone",
        True,
        "Quà tặng hấp dẫn trị giá 500.000 đồng thay lời cảm ơn từ MobiFone tới Quý "
        "khách hàng đã đồng hành cùng MobiFone trong suốt thời gian vừa qua. Kính "
        "mời Quý khách truy cập địa chỉ http://cskh.mobifone.vn với mật khẩu "
        "{password} trước {deadline} để lựa chọn quà tặng. Chi tiết liên hệ 9090. "
        "Trân trọng cảm ơn",
    ),
    (
        "000-lau-nam-hcm",
        Purpose.DELIVERY_SUCCESS,
        "",
        Channel.SMS,
        "MobiFone",
        True,
        "MobiFone đã gửi thành công sản phẩm {gift} thay lời tri ân chân thành tới "
        "Quý khách. MobiFone hy vọng tiếp tục nhận được sự ủng hộ của Quý khách trên "
        "những chặng đường tiếp theo. Chi tiết liên hệ 9090. Trân trọng cảm ơn",
    ),
    (
        "000-lau-nam-hcm",
        Purpose.DELIVERY_FAILURE,
        "",
        Channel.SMS,
        "MobiFone",
        True,
        "MobiFone đã liên hệ giao sản phẩm {gift} tri ân khách hàng lâu năm nhưng "
        "không thành công vì lý do {reason}. Quý khách vui lòng liên hệ tổng đài 9090 "
        "trước ngày {reply_by}. Nếu không nhận được phản hồi trong thời gian trên, "
        "MobiFone xin ghi nhận Quý khách không có nhu cầu nhận sản phẩm này. Trân "
        "trọng cảm ơn",
    ),
    # 001: group 2 is invited to a store; group 1 is told a visit is coming.
    (
        "001-muc-cuoc-kv5",
        Purpose.STORE_INVITATION,
        "",
        Channel.SMS,
        "MobiFone",
        False,
        "(CSKH) MobiFone trân trọng cảm ơn Quý khách đã đồng hành cùng MobiFone. Kính "
        "mời Quý khách đến {store} trước ngày {date} để nhận quà tặng {gift}. Vui lòng "
        "mang theo CCCD/CMND. Chi tiết liên hệ 9090.",
    ),
    (
        "001-muc-cuoc-kv5",
        Purpose.OTHER,
        "home_visit",
        Channel.SMS,
        "MobiFone",
        False,
        "(CSKH) MobiFone trân trọng cảm ơn Quý khách đã đồng hành cùng MobiFone. "
        "Trưởng MobiFone quận/huyện sẽ liên hệ và đến tặng quà {gift} tận nhà Quý "
        "khách trong thời gian tới. Chi tiết liên hệ 9090.",
    ),
    # 002: the points SMS on 28/10 and 30/10 (brandname MobiFone 9), two wordings.
    (
        "002-goi-ra-kv9",
        Purpose.POINTS,
        "",
        Channel.SMS,
        "MobiFone 9",
        False,
        "(CSKH) Quy khach {name} hien co {points} diem tich luy. Dang ky tham gia CT "
        "Ket noi dai lau de DOI DIEM thanh GOI CUOC/TIEN CUOC & nhieu uu dai khac: "
        "soan DK gui 9237, sau do soan XN gui 9237 xac nhan dang ky (mien phi). Chi "
        "tiet dang nhap https://www.mobifone.vn/ho-tro-khach-hang/ket-noi-dai-lau "
        "hoac goi 9090",
    ),
    (
        "002-goi-ra-kv9",
        Purpose.LOYALTY_SIGNUP,
        "",
        Channel.SMS,
        "MobiFone 9",
        False,
        "(CSKH) Dang ky tham gia CT Ket noi dai lau MIEN PHI: soan DK gui 9237, sau do "
        "soan XN gui 9237 xac nhan dang ky de DOI DIEM thanh GOI CUOC/TIEN CUOC & "
        "nhieu uu dai khac. Quy khach {name} hien co {points} diem tich luy. Chi tiet "
        "dang nhap https://www.mobifone.vn/ho-tro-khach-hang/ket-noi-dai-lau hoac "
        "goi 9090",
    ),
    (
        "002-goi-ra-kv9",
        Purpose.ZALO_RECORD_UPDATE,
        "",
        Channel.ZALO,
        "MobiFone Miền Tây",
        True,
        "[CSKH] Quý khách vui lòng sử dụng số thuê bao cần hỗ trợ ĐĂNG KÝ THÔNG TIN "
        "CHỦ THUÊ BAO để kết bạn Zalo với MobiFone Miền Tây và gửi các hồ sơ sau để "
        "được hỗ trợ trực tuyến (hoặc đến cửa hàng MobiFone gần nhất để được hỗ trợ): "
        "1. Ảnh chụp CCCD/CMND mặt trước và mặt sau. 2. Ảnh chụp chân dung nửa người. "
        "3. Ảnh chụp số điện thoại (bấm *0# và nhấn nút gọi: chụp lại màn hình). "
        "4. Ảnh chữ ký.",
    ),
    (
        "002-goi-ra-kv9",
        Purpose.PACKAGE_OFFER,
        "",
        Channel.SMS,
        "MobiFone 9",
        False,
        "(CSKH) MIEN PHI {bonus}: soan {package} gui 999 de dang ky. Gia: {price}/30 "
        "ngay. TANG THEM {gift} tai cua hang MobiFone DBSCL (khong gom Long An). Lien "
        "he 9090.",
    ),
    (
        "002-goi-ra-kv9",
        Purpose.APP_LINK,
        "my_mobifone",
        Channel.SMS,
        "MobiFone 9",
        True,
        "(CSKH) Tai & su dung MIEN PHI app My MobiFone tai mbf.vn/appdl de chu dong "
        "doi diem tich luy nhan thuong, tra cuu tai khoan/cuoc su dung/goi cuoc, nap "
        "tien/thanh toan cuoc... Chi tiet goi 9090.",
    ),
    (
        "002-goi-ra-kv9",
        Purpose.APP_LINK,
        "money_ios",
        Channel.SMS,
        "MobiFone 9",
        True,
        "(CSKH) Tai & su dung MIEN PHI app MobiFone Money tai "
        "https://apps.apple.com/vn/app/mobifone-pay/id1565937964 de chu dong nap the/"
        "thanh toan cuoc tra sau/tien dien/nuoc... Khuyen mai nap the len den 50% "
        "theo ngay thong bao, chiet khau 7% tien cuoc tra sau thanh toan truoc ngay "
        "28 hang thang. Chi tiet goi 9090",
    ),
    (
        "002-goi-ra-kv9",
        Purpose.APP_LINK,
        "money_android",
        Channel.SMS,
        "MobiFone 9",
        True,
        "(CSKH) Tai & su dung MIEN PHI app MobiFone Money tai "
        "https://play.google.com/store/apps/details?id=com.mobifone.mobifonepay de "
        "chu dong nap the/thanh toan cuoc tra sau/tien dien/nuoc... Khuyen mai nap "
        "the len den 50% theo ngay thong bao, chiet khau 7% tien cuoc tra sau thanh "
        "toan truoc ngay 28 hang thang. Chi tiet goi 9090",
    ),
    (
        "002-goi-ra-kv9",
        Purpose.STORE_INVITATION,
        "",
        Channel.SMS,
        "MobiFone 9",
        True,
        "(CSKH) MobiFone moi Quy khach {name} den {store} trong vong 2 ngay de nhan "
        "qua tang {gift}. Chi tiet goi 9090.",
    ),
    # 003: invitation to ask for a home SIM swap (TSTN to 9231).
    (
        "003-doi-sim-4g",
        Purpose.INVITATION,
        "",
        Channel.SMS,
        "MobiFone",
        False,
        "(CSKH) MobiFone ho tro thay SIM 4G tai nha MIEN PHI, giu nguyen so thue bao "
        "va tai khoan. Dang ky tai https://yeucau.mobifone.vn/ hoac soan TSTN gui 9231 "
        "(mien phi). Chi tiet goi 9090.",
    ),
]

# Sample ZNS template ids for the Zalo templates: a real one is the id Zalo gives once
# it has approved the template. The demo has no ZNS access token, so these messages
# still wait on the agents' work list.
ZALO_TEMPLATE_IDS = {("002-goi-ra-kv9", Purpose.ZALO_RECORD_UPDATE, ""): "231020"}

# Programme 002: the points SMS twice, on 28/10 and 30/10/2022, 2 per subscriber.
POINTS_DATES = [(1, datetime(2022, 10, 28, 9, 0)), (2, datetime(2022, 10, 30, 9, 0))]


@transaction.atomic
def demo_load_templates() -> int:
    """Create the seed programmes' templates and schedules; return how many are new."""
    campaigns = {campaign.code: campaign for campaign in Campaign.objects.all()}
    created = 0
    for code, purpose, variant, channel, sender, service, body in TEMPLATES:
        campaign = campaigns.get(code)
        if campaign is None:
            continue
        template, new = MessageTemplate.objects.get_or_create(
            campaign=campaign,
            purpose=purpose,
            variant=variant,
            channel=channel,
            defaults={
                "sender": sender,
                "body": body,
                "strip_diacritics": channel == Channel.SMS,
                "exempt_from_do_not_contact": service,
                "max_segments": 10 if channel == Channel.ZALO else 3,
                "zalo_template_id": ZALO_TEMPLATE_IDS.get((code, purpose, variant), ""),
            },
        )
        created += new
        if code == "002-goi-ra-kv9" and purpose == Purpose.POINTS:
            for sequence, moment in POINTS_DATES:
                Schedule.objects.get_or_create(
                    template=template,
                    sequence=sequence,
                    defaults={
                        "kind": Schedule.Kind.FIXED,
                        "send_at": moment.replace(tzinfo=LOCAL),
                    },
                )
        if code == "000-lau-nam-hcm" and purpose in (
            Purpose.DELIVERY_SUCCESS,
            Purpose.DELIVERY_FAILURE,
        ):
            # Results go out within 7 days of the partner's upload: next morning.
            Schedule.objects.get_or_create(
                template=template,
                sequence=1,
                defaults={
                    "kind": Schedule.Kind.AFTER_EVENT,
                    "event": "delivery results uploaded",
                    "delay": timedelta(hours=12),
                },
            )
    if "002-goi-ra-kv9" in campaigns:
        MessagingSettings.objects.get_or_create(
            campaign=campaigns["002-goi-ra-kv9"],
            defaults={"cap_per_subscriber": 2},
        )
    for code in campaigns:
        MessagingSettings.objects.get_or_create(
            campaign=campaigns[code],
            defaults={"window_start": time(7, 0), "window_end": time(22, 0)},
        )
    return created

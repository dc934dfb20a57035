"""Demo data of the call centre: programme 002's script B1–B6 with its branches, and
its call list from the approved selection, shared between two agents.

Idempotent: a script, task or user already there is left as staff may have changed it.
"""

from __future__ import annotations

from datetime import time

from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.db import transaction

from callcenter import services
from callcenter.models import (
    CallTask,
    Disposition,
    Qualifier,
    Script,
    ScriptBranch,
    ScriptStep,
)
from campaigns import roles
from campaigns.models import Campaign, SelectionRun

CAMPAIGN_002 = "002-goi-ra-kv9"
DEMO_AGENTS = ["dtv", "dtv2"]
PER_AGENT = 30

# (code, title, topic priority, qualifier, text, [(label, text, next step, disposition)])
SCRIPT_002 = [
    (
        "B1",
        "Chào và giới thiệu",
        None,
        Qualifier.ALWAYS,
        "Dạ, vui lòng cho em hỏi thăm có phải là Anh/Chị [Tên KH] không ạ?",
        [
            (
                "Đúng KH, đồng ý",
                "Dạ. Em chào Anh/Chị [Tên KH], em tên … gọi ra từ MobiFone. Anh/Chị "
                "vui lòng cho em xin ít phút để mời chọn quà tặng cám ơn từ MobiFone ạ.",
                "B2",
                "",
            ),
            (
                "Không đúng KH",
                "Dạ, em chào Anh/Chị, em tên … gọi ra từ MobiFone. Anh/Chị vui lòng cho "
                "em xin ít phút để mời chọn quà tặng cám ơn từ MobiFone ạ.",
                "",
                Disposition.WRONG_PERSON,
            ),
            (
                "KH bận: hẹn gọi lại",
                "Em có thể gọi lại cho Anh/Chị vào thời gian nào trong ngày sẽ thuận "
                "tiện cho Anh/Chị ạ? (Gọi lại theo thời gian đã hẹn với KH.)",
                "",
                Disposition.BUSY,
            ),
            (
                "KH không quan tâm",
                "(Hỏi rõ lý do để ghi nhận, báo cáo trên chương trình gọi ra và báo "
                "cáo MNP đi.) Dạ em cám ơn và chào Anh/Chị.",
                "",
                Disposition.NOT_INTERESTED,
            ),
            ("Không nghe máy", "", "", Disposition.NO_ANSWER),
        ],
    ),
    (
        "B2",
        "Tích điểm – Nhận quà",
        1,
        Qualifier.HAS_POINTS,
        "Dạ, số TB của Anh/Chị [Tên KH] hiện có [Điểm] điểm tích lũy, là hội viên "
        "hạng [Hạng]. Thay lời cám ơn Anh/Chị đã đồng hành cùng MobiFone trong thời "
        "gian qua, em mời Anh/Chị đổi [Điểm] điểm tích lũy để chọn một trong các "
        "loại quà sau ạ: [Quà].",
        [
            (
                "Chọn quà bảo hiểm",
                "Anh/Chị [Tên KH] vui lòng cho em xin thông tin cà vẹt xe để cấp bảo "
                "hiểm điện tử theo yêu cầu luôn ạ. Dạ PVI sẽ gửi bảo hiểm điện tử qua "
                "tin nhắn/mail/Zalo Anh/Chị [Tên KH] trong vòng 2 ngày làm việc ạ. "
                "(Nhập thông tin cà vẹt ở ô Quà tặng.)",
                "",
                "",
            ),
            (
                "Quà hiện vật, ARPU ≥ 500.000 đ",
                "Dạ, Anh/Chị [Tên KH] vui lòng cho em xin thông tin địa chỉ để giao "
                "quà ạ. MobiFone sẽ gửi quà đến Anh/Chị trong vòng 30 ngày. Nhân viên "
                "sẽ liên hệ hẹn mình trước khi đến ạ.",
                "",
                "",
            ),
            (
                "Quà hiện vật, ARPU < 500.000 đ",
                "Dạ, Anh/Chị [Tên KH] vui lòng cho em xin tên quận/huyện mình thường "
                "trú để em gửi tin nhắn địa chỉ cửa hàng MobiFone gần nhất ([Cửa hàng]), "
                "mời Anh/Chị đến nhận quà tặng trong vòng 2 ngày ạ.",
                "",
                "",
            ),
            (
                "Đăng ký KNDL",
                "Dạ em thấy số TB của Anh/Chị có nhiều điểm tích lũy mà chưa đăng ký "
                "tham gia chương trình Kết nối dài lâu để chủ động đổi điểm thành cước/"
                "gói cước và nhận nhiều ưu đãi khác. Chương trình hoàn toàn miễn phí. "
                "Em hỗ trợ Anh/Chị đăng ký tham gia luôn được không ạ?",
                "",
                "",
            ),
            ("Chuyển B3", "", "B3", ""),
        ],
    ),
    (
        "B3",
        "Tư vấn gói cước",
        2,
        Qualifier.NO_PACKAGE,
        "Cước sử dụng bình quân của Anh/Chị [Tên KH] tầm [ARPU]/tháng, gọi thoại "
        "chiếm [Tỷ lệ thoại] (data chiếm [Tỷ lệ data]) mà hiện em thấy mình không "
        "đăng ký gói cước nào. Do Anh/Chị là khách hàng quan trọng của MobiFone, "
        "MobiFone có ưu đãi đặc biệt: sử dụng MIỄN PHÍ [Ưu đãi gói] trong 30 ngày chỉ "
        "với [Giá gói]/30 ngày với gói [Gói đề xuất], tặng thêm quà khi đăng ký. Ưu "
        "đãi chỉ có hiệu lực trong 02 ngày. Em hỗ trợ Anh/Chị đăng ký gói [Gói đề "
        "xuất] luôn được không ạ?",
        [
            (
                "Đồng ý, đủ TKC",
                "Dạ sau khi kết thúc cuộc gọi em sẽ đăng ký gói [Gói đề xuất] cho TB "
                "Anh/Chị luôn ạ. Anh/Chị vui lòng theo dõi tin nhắn báo đăng ký thành "
                "công và tắt nguồn, khởi động lại máy. Gói được gia hạn tự động sau "
                "30/31 ngày.",
                "B4",
                "",
            ),
            (
                "Đồng ý, không đủ TKC",
                "Dạ sau khi kết thúc cuộc gọi, em sẽ nhắn tin ưu đãi gói [Gói đề xuất] "
                "và cách đăng ký qua Zalo/Viber cho Anh/Chị ạ. Anh/Chị có thể nhắn tin "
                "đăng ký sau khi nạp tiền.",
                "B4",
                "",
            ),
            ("KH không đồng ý", "", "B4", ""),
        ],
    ),
    (
        "B4",
        "Chuẩn hóa thông tin thuê bao",
        3,
        Qualifier.RECORD_NOT_STANDARD,
        "Dạ em thấy Anh/Chị [Tên KH] chưa cập nhật CCCD mới (hoặc tên chủ TB chưa "
        "chính xác). Nhằm đảm bảo quyền sở hữu số TB và giữ liên lạc thông suốt, em "
        "hỗ trợ Anh/Chị cập nhật thông tin TB qua Zalo, không cần ra cửa hàng được "
        "không ạ?",
        [
            (
                "Đồng ý cập nhật online",
                "Dạ. Sau cuộc gọi MobiFone Miền Tây sẽ gửi link mời đăng ký thông tin "
                "qua Zalo của Anh/Chị [Tên KH]. Anh/Chị vui lòng gửi ảnh 2 mặt CCCD, ảnh "
                "chân dung nửa người, màn hình chụp số điện thoại và chữ ký. MobiFone "
                "cập nhật trong 24 giờ.",
                "B5",
                "",
            ),
            (
                "Không đồng ý cập nhật online",
                "Dạ. Sau cuộc gọi MobiFone sẽ gửi link tải ứng dụng và danh sách cửa "
                "hàng MobiFone tại Miền Tây ([Cửa hàng]) để Anh/Chị đến cập nhật TTTB "
                "trước ngày [Hạn cập nhật].",
                "B5",
                "",
            ),
        ],
    ),
    (
        "B5",
        "CSKH: ứng dụng My MobiFone, góp ý",
        4,
        Qualifier.NO_APP,
        "Dạ kết thúc cuộc gọi này, em xin phép gửi link tải ứng dụng My MobiFone qua "
        "tin nhắn/Zalo cho Anh/Chị luôn ạ. Sau khi tải ứng dụng, Anh/Chị [Tên KH] có "
        "thể chủ động đổi điểm tích lũy, kiểm tra cước, thanh toán online. Ứng dụng "
        "hoàn toàn miễn phí ạ.",
        [
            (
                "MobiFone Pay (trả sau, đã có My MobiFone)",
                "Em thấy mình chưa thanh toán/nạp thẻ qua MobiFone Pay để được chiết "
                "khấu khi thanh toán và khuyến mại thẻ nạp đến 50%. Em gửi link tải "
                "MobiFone Pay cho Anh/Chị luôn ạ.",
                "",
                "",
            ),
            (
                "Góp ý / cần hỗ trợ",
                "Anh/Chị [Tên KH] có góp ý gì cho MobiFone hoặc vấn đề gì cần em hỗ trợ "
                "không ạ? (Nếu không giải quyết ngay được:) MobiFone đã ghi nhận yêu "
                "cầu và sẽ phản hồi trong vòng 48 giờ ạ.",
                "",
                "",
            ),
            ("Chuyển B6", "", "B6", ""),
        ],
    ),
    (
        "B6",
        "Kết thúc",
        None,
        Qualifier.ALWAYS,
        "Dạ, MobiFone chân thành cảm ơn Anh/Chị [Tên KH] đã tin tưởng sử dụng dịch "
        "vụ MobiFone. Nếu có vấn đề cần hỗ trợ, Anh/Chị vui lòng gọi 9090. Sau cuộc "
        "gọi, Anh/Chị vui lòng theo dõi tin nhắn từ MobiFone qua Zalo/Viber. Chúc "
        "Anh/Chị một ngày tốt lành. Em chào Anh/Chị [Tên KH].",
        [("Kết thúc cuộc gọi", "", "", Disposition.DONE)],
    ),
]


@transaction.atomic
def script_002_load(campaign: Campaign) -> Script:
    """Programme 002's script, as care staff would write it in the admin."""
    script, created = Script.objects.get_or_create(
        campaign=campaign,
        defaults={
            "name": "Kịch bản gọi ra chăm sóc KH cước cao (B1–B6)",
            "min_topics": 2,
            "offer_package": "F90",
            "offer_price": "90.000 đ",
            "offer_bonus": "1GB data/ngày",
            "calling_from": time(8, 0),
            "calling_to": time(21, 0),
        },
    )
    if not created:
        return script
    steps = {}
    for position, (code, title, priority, qualifier, text, _branches) in enumerate(
        SCRIPT_002, start=1
    ):
        step = ScriptStep(
            script=script,
            code=code,
            title=title,
            text=text,
            position=position,
            topic_priority=priority,
            qualifier=qualifier,
        )
        step.full_clean()
        step.save()
        steps[code] = step
    for code, _title, _priority, _qualifier, _text, branches in SCRIPT_002:
        for position, (label, text, next_code, disposition) in enumerate(
            branches, start=1
        ):
            branch = ScriptBranch(
                step=steps[code],
                label=label,
                text=text,
                next_step=steps.get(next_code),
                disposition=disposition,
                position=position,
            )
            branch.full_clean()
            branch.save()
    return script


def _approved_run(campaign: Campaign, say) -> SelectionRun | None:
    from campaigns import services as campaign_services

    run = campaign.selection_runs.filter(status=SelectionRun.Status.APPROVED).first()
    if run is not None:
        return run
    if campaign.status != Campaign.Status.DRAFT:
        return None
    # 002's gifts are chosen on the call, not on the gift site: no password SMS.
    _no_invitation_sms(campaign)
    run = campaign_services.selection_run_start(campaign=campaign, enqueue=False)
    run = campaign_services.selection_run_execute(run_id=run.pk)
    if run.status != SelectionRun.Status.PREVIEW:
        say(f"  002 selection failed: {run.error}")
        return None
    run = campaign_services.selection_run_commit(run=run)
    run = campaign_services.selection_run_approve(run=run)
    say(f"  002: selection run {run.number} approved, {run.selected_count} members")
    return run


def _no_invitation_sms(campaign: Campaign) -> None:
    from gifts.models import GiftSettings

    if any(f.name == "invite_on_approval" for f in GiftSettings._meta.get_fields()):
        GiftSettings.objects.filter(campaign=campaign).update(invite_on_approval=False)


def _agents():
    User = get_user_model()
    group = Group.objects.get(name=roles.CALL_AGENT)
    agents = []
    for username in DEMO_AGENTS:
        user, created = User.objects.get_or_create(
            username=username, defaults={"is_staff": True}
        )
        if created:
            from campaigns.demo import DEMO_PASSWORD

            user.set_password(DEMO_PASSWORD)
            user.save()
        user.groups.add(group)
        agents.append(user)
    return agents


def demo_load(*, say=print) -> None:
    from gifts.demo import demo_load_gifts

    roles.sync_roles()
    campaign = Campaign.objects.filter(code=CAMPAIGN_002).first()
    if campaign is None:
        say("Call centre: campaign 002 not found, skipped.")
        return
    run = _approved_run(campaign, say)
    if run is None:
        say("Call centre: 002 has no approved list, skipped.")
        return
    demo_load_gifts(campaign)
    script_002_load(campaign)
    added = services.call_list_load(campaign=campaign)
    agents = _agents()
    for agent in agents:
        if not CallTask.objects.filter(campaign=campaign, agent=agent).exists():
            services.tasks_assign(campaign=campaign, agent=agent, count=PER_AGENT)
    say(
        f"Call centre: 002 script B1–B6, {added} customers added to the call list; "
        f"agents {', '.join(DEMO_AGENTS)}"
    )

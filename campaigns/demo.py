"""The demo: a generated snapshot, the five seed programmes as campaigns, one login per role.

Loading is idempotent: a second run finds the demo snapshot and changes nothing.
"""

from __future__ import annotations

import tempfile
from datetime import date
from pathlib import Path

from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.db import transaction

from campaigns import roles
from campaigns.models import Campaign
from eligibility import services as eligibility_services
from eligibility.models import ImportKind, Snapshot
from eligibility.synthetic import generate_snapshot, write_named_list

DEMO_SNAPSHOT = "Demo 31/10/2022"
DEMO_PASSWORD = "demo1234"

# The five programmes of shared/seeds (see DIGEST.md), as care staff would declare them.
PROGRAMMES = [
    {
        "code": "000-lau-nam-hcm",
        "name": "Tri ân thuê bao lâu năm – chọn quà trực tuyến (TP.HCM)",
        "owning_unit": "P.CSKH",
        "description": "Thuê bao hòa mạng từ 240 tháng, 2 chiều, không phải hội viên KNDL/"
        "KHCC, không phải liên lạc nghiệp vụ/sim thử, địa chỉ TP.HCM; xếp theo doanh "
        "thu giảm dần đến khi hết quà; chọn quà trên cskh.mobifone.vn trong 3 ngày.",
        "starts_on": date(2022, 11, 10),
        "ends_on": date(2022, 12, 31),
    },
    {
        "code": "001-muc-cuoc-kv5",
        "name": "Tặng quà theo mức cước – tận nhà hoặc tại cửa hàng (Khu vực 5)",
        "owning_unit": "Công ty 5",
        "description": "Nhóm 1 (> 700.000 đ/chu kỳ): vali kéo, trưởng cửa hàng tặng tận "
        "nhà; nhóm 2 (550.000–700.000 đ): hộp hút chân không hoặc ô gấp, nhận tại cửa "
        "hàng; cước bình quân n-3..n-5; 4 đợt.",
        "starts_on": date(2017, 6, 1),
        "ends_on": date(2017, 12, 31),
    },
    {
        "code": "002-goi-ra-kv9",
        "name": "Gọi ra chăm sóc thuê bao ARPU cao (Khu vực 9)",
        "owning_unit": "Công ty 9",
        "description": "2 chiều, có mặt VLR khu vực 9 từ 4/7 ngày, ARPU ≥ 150.000 đ; kịch "
        "bản B1–B6, tư vấn ít nhất 2/4 nội dung; 2 SMS (28/10, 30/10) và 1 tin Zalo.",
        "starts_on": date(2022, 10, 1),
        "ends_on": date(2022, 10, 31),
    },
    {
        "code": "003-doi-sim-4g",
        "name": "Đổi SIM 4G tại nhà (ĐBSCL)",
        "owning_unit": "Công ty 9",
        "description": "Thuê bao dùng máy 4G chưa dùng SIM 4G, có mặt VLR 7/7 ngày; đăng "
        "ký qua SMS TSTN gửi 9231, IVR hoặc web; giai đoạn 1 quận trung tâm, giai đoạn "
        "2 các quận còn lại.",
        "starts_on": date(2021, 3, 26),
        "ends_on": None,
    },
    {
        "code": "004-du-lich-chau-au",
        "name": "Du lịch châu Âu cho khách hàng trả sau thanh toán qua ngân hàng",
        "owning_unit": "P.CSKH",
        "description": "36 khách hàng, 2 đoàn; hạn ngạch công ty × nhóm (KHCN/KHDN); xếp "
        "theo doanh thu thông tin bình quân 9/2018–8/2019, bằng nhau thì thâm niên dài "
        "hơn trước.",
        "starts_on": date(2019, 10, 1),
        "ends_on": date(2019, 12, 31),
    },
]

DEMO_USERS = [
    ("admin", None, "superuser"),
    ("cskh", roles.CARE_STAFF, "care staff"),
    ("doitac", roles.PARTNER, "partner"),
    ("dtv", roles.CALL_AGENT, "call agent"),
    ("giamsat", roles.CALL_SUPERVISOR, "call supervisor"),
    ("tinh", roles.PROVINCE_STAFF, "province staff"),
    ("thucdia", roles.FIELD_STAFF, "field staff"),
]


def demo_load(*, size: int = 5000, say=print) -> None:
    roles.sync_roles()
    _ensure_users()
    snapshot = Snapshot.objects.filter(name=DEMO_SNAPSHOT).first()
    if snapshot is None:
        snapshot = _load_snapshot(size=size, say=say)
    for programme in PROGRAMMES:
        Campaign.objects.get_or_create(
            code=programme["code"], defaults={**programme, "snapshot": snapshot}
        )


def _load_snapshot(*, size: int, say) -> Snapshot:
    say(f"Generating {size} demo subscribers with 12 billing cycles…")
    with tempfile.TemporaryDirectory() as folder:
        generated = generate_snapshot(
            out_dir=Path(folder), size=size, cycles=12, last_cycle="2022-10", seed=2022
        )
        with transaction.atomic():
            snapshot = eligibility_services.snapshot_create(
                name=DEMO_SNAPSHOT,
                taken_on=date(2022, 10, 31),
                description="Dữ liệu sinh ngẫu nhiên cho bản demo.",
            )
        for kind, path in [
            (ImportKind.SUBSCRIBERS, generated.subscribers_path),
            (ImportKind.BILLING, generated.billing_path),
        ]:
            job = eligibility_services.import_file(
                kind=kind, path=path, snapshot=snapshot, commit=True
            )
            say(f"  {kind}: {job.imported_rows} rows imported")
        # Exclusion lists that programme 002 refers to, drawn from the population.
        numbers = list(
            snapshot.subscribers.order_by("msisdn").values_list("msisdn", flat=True)
        )
        for name, sample in [
            ("KHCC đã gọi ra đợt 1", numbers[::50]),
            ("DS KH lâu năm", numbers[7::40]),
        ]:
            list_path = Path(folder) / f"list-{len(name)}.csv"
            write_named_list(path=list_path, msisdns=sample)
            eligibility_services.import_file(
                kind=ImportKind.NAMED_LIST, path=list_path, list_name=name, commit=True
            )
    snapshot.refresh_from_db()
    return snapshot


def _ensure_users() -> None:
    User = get_user_model()
    for username, group_name, _label in DEMO_USERS:
        user, created = User.objects.get_or_create(
            username=username, defaults={"is_staff": True}
        )
        if created:
            user.set_password(DEMO_PASSWORD)
            user.is_superuser = group_name is None
            user.save()
        if group_name:
            user.groups.add(Group.objects.get(name=group_name))

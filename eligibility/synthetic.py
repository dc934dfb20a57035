"""Realistic synthetic snapshot files: a subscribers file and a billing file.

The files follow the subscriber-data format (shared/formats/subscriber-data.md) and are
meant for demos, import tests and benchmarks. The population looks like a MobiFone
customer base seen from the care department: Vietnamese names with diacritics, real
provinces and districts (Ho Chi Minh City, Hanoi, the Mekong Delta districts of
programme 003), the nine regional companies, tenures up to 30 years, long-tailed
revenue, loyalty tiers, handsets and payment methods.

Pure standard library (plus openpyxl, imported only for XLSX output): the module must
import without Django settings, so benchmark scripts can use it directly.

Output is deterministic for a given seed. Every chunk of subscribers draws from its
own generator seeded by (seed, chunk number), so the result does not depend on how the
work is scheduled, and MSISDN tails come from a bijection of the row index, which makes
them unique without a set of every number drawn so far.
"""

from __future__ import annotations

import csv
import datetime as dt
import math
import random
import re
import unicodedata
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

SUBSCRIBER_COLUMNS: tuple[str, ...] = (
    "msisdn",
    "full_name",
    "subscription_type",
    "status",
    "contract_date",
    "customer_type",
    "enterprise_role",
    "company",
    "province",
    "district",
    "address",
    "birth_date",
    "nationality",
    "is_owner",
    "record_standardized",
    "is_premium",
    "loyalty_member",
    "loyalty_tier",
    "loyalty_points",
    "line_kind",
    "vlr_days_7",
    "handset_network",
    "handset_os",
    "sim_4g",
    "payment_method",
    "package_code",
    "mvas_idle_2m",
    "has_app",
    "churn_risk",
    "ownership_changed_on",
)

BILLING_COLUMNS: tuple[str, ...] = (
    "msisdn",
    "cycle",
    "revenue_total",
    "revenue_voice",
    "revenue_sms",
    "revenue_data",
    "revenue_excluded",
    "paid",
    "debt_blocked",
    "payment_channel",
)

# MobiFone was founded on 16 April 1993; contract dates start there.
MOBIFONE_LAUNCH = dt.date(1993, 4, 16)

# Row-level problems the generator can inject. numeric_msisdn is the odd one out: the
# number is written the way Excel mangles it ('901234567.0', '9.01234567E+8', leading
# zero lost) and is VALID once normalised; the importer must accept it.
MESSY_KINDS: tuple[str, ...] = (
    "numeric_msisdn",
    "bad_msisdn",
    "bad_date",
    "unknown_status",
    "negative_revenue",
    "duplicate_msisdn",
)
# Kinds that make the subscriber row unusable; such rows get no billing rows, so the
# billing file's only defects are the negative_revenue rows.
REJECTED_SUBSCRIBER_KINDS = frozenset(
    {"bad_msisdn", "bad_date", "unknown_status", "duplicate_msisdn"}
)

# The MSISDN tail is a bijection of the row index over 7 digits, hence the ceiling.
MAX_SIZE = 10_000_000
MAX_CYCLES = 120
MIN_YEAR, MAX_YEAR = 2000, 2100
# An XLSX sheet holds 1,048,576 rows, one of them the header.
XLSX_MAX_ROWS = 1_048_575

PROGRESS_EVERY = 50_000
# Fixed so that the output does not depend on anything but the arguments.
CHUNK_SIZE = 10_000

# The data tables below are laid out by hand, several entries a line, to stay
# readable; the formatter would put each on its own line.
# fmt: off

# MobiFone mobile prefixes after the country code 84. 090 dates from 1993, 093 from the
# mid-2000s; 070/076/077/078/079 are the 0120/0126/0122/0128/0121 ranges renumbered
# in 2018 (so they can be old lines); 089 was opened in 2015.
MOBIFONE_PREFIXES: tuple[str, ...] = ("90", "93", "89", "70", "76", "77", "78", "79")
_PREFIX_ERAS: tuple[tuple[int, dict[str, float]], ...] = (
    (2004, {"90": 1.0}),
    (2008, {"90": 0.6, "93": 0.4}),
    (
        2015,
        {"90": 0.25, "93": 0.25, "70": 0.1, "76": 0.1, "77": 0.1, "78": 0.1,
         "79": 0.1},
    ),
    (
        9999,
        {"90": 0.2, "93": 0.2, "89": 0.2, "70": 0.08, "76": 0.08, "77": 0.08,
         "78": 0.08, "79": 0.08},
    ),
)

# Province -> regional service company (Công ty dịch vụ MobiFone khu vực 1..9). The
# split follows seed 004, whose tour from Hanoi takes companies 1, 3, 4, 5, 6 and the
# tour from Ho Chi Minh City companies 2, 7, 8, 9, and seed 002, where region 9 is the
# Mekong Delta without Long An. 1: Hanoi and around; 2: Ho Chi Minh City; 3: central
# coast around Da Nang; 4: north-central and the southern Red River delta; 5: Hai
# Phong and the north-east coast; 6: northern midlands and mountains; 7: south-central
# coast and Central Highlands; 8: the south-east; 9: the Mekong Delta.
PROVINCE_COMPANY: dict[str, int] = {
    "Hà Nội": 1,
    "Bắc Ninh": 1,
    "Vĩnh Phúc": 1,
    "Hồ Chí Minh": 2,
    "Đà Nẵng": 3,
    "Thừa Thiên Huế": 3,
    "Quảng Nam": 3,
    "Quảng Ngãi": 3,
    "Bình Định": 3,
    "Quảng Trị": 3,
    "Quảng Bình": 3,
    "Thanh Hóa": 4,
    "Nghệ An": 4,
    "Hà Tĩnh": 4,
    "Ninh Bình": 4,
    "Nam Định": 4,
    "Hà Nam": 4,
    "Hải Phòng": 5,
    "Quảng Ninh": 5,
    "Hải Dương": 5,
    "Hưng Yên": 5,
    "Thái Bình": 5,
    "Thái Nguyên": 6,
    "Bắc Giang": 6,
    "Phú Thọ": 6,
    "Lào Cai": 6,
    "Lạng Sơn": 6,
    "Sơn La": 6,
    "Hòa Bình": 6,
    "Khánh Hòa": 7,
    "Lâm Đồng": 7,
    "Đắk Lắk": 7,
    "Gia Lai": 7,
    "Bình Thuận": 7,
    "Ninh Thuận": 7,
    "Phú Yên": 7,
    "Bình Dương": 8,
    "Đồng Nai": 8,
    "Bà Rịa - Vũng Tàu": 8,
    "Long An": 8,
    "Tây Ninh": 8,
    "Bình Phước": 8,
    "Cần Thơ": 9,
    "An Giang": 9,
    "Kiên Giang": 9,
    "Đồng Tháp": 9,
    "Tiền Giang": 9,
    "Sóc Trăng": 9,
    "Vĩnh Long": 9,
    "Bến Tre": 9,
    "Cà Mau": 9,
    "Trà Vinh": 9,
    "Bạc Liêu": 9,
    "Hậu Giang": 9,
}

# Phase-1 central districts of programme 003, spelled exactly as seed 003's table so
# that a rule typed from the programme text matches the data.
MEKONG_CENTRAL_DISTRICTS: dict[str, tuple[str, ...]] = {
    "An Giang": ("Thị xã Châu Đốc", "TP Long Xuyên"),
    "Bạc Liêu": ("TP Bạc Liêu",),
    "Bến Tre": ("TP Bến Tre", "Huyện Châu Thành"),
    "Cà Mau": ("TP Cà Mau",),
    "Cần Thơ": ("Quận Bình Thủy", "Quận Cái Răng", "Quận Ninh Kiều", "Quận Ô Môn"),
    "Đồng Tháp": ("TP Cao Lãnh", "Huyện Cao Lãnh", "Huyện Lai Vung"),
    "Hậu Giang": ("Huyện Châu Thành A", "Huyện Phụng Hiệp"),
    "Kiên Giang": ("TX. Hà Tiên", "Huyện Phú Quốc", "TP Rạch Giá"),
    "Sóc Trăng": ("TP Sóc Trăng",),
    "Tiền Giang": ("Huyện Châu Thành", "TP Mỹ Tho"),
    "Trà Vinh": ("TP Trà Vinh",),
    "Vĩnh Long": ("Huyện Bình Minh", "Huyện Long Hồ", "TP Vĩnh Long"),
}

_MEKONG_OTHER_DISTRICTS: dict[str, tuple[str, ...]] = {
    "An Giang": (
        "Thị xã Tân Châu", "Huyện Chợ Mới", "Huyện Phú Tân", "Huyện Châu Phú",
        "Huyện Tri Tôn", "Huyện Thoại Sơn", "Huyện An Phú", "Huyện Tịnh Biên",
    ),
    "Bạc Liêu": (
        "Thị xã Giá Rai", "Huyện Hồng Dân", "Huyện Phước Long", "Huyện Vĩnh Lợi",
        "Huyện Đông Hải", "Huyện Hòa Bình",
    ),
    "Bến Tre": (
        "Huyện Mỏ Cày Nam", "Huyện Ba Tri", "Huyện Giồng Trôm", "Huyện Bình Đại",
        "Huyện Chợ Lách", "Huyện Thạnh Phú",
    ),
    "Cà Mau": (
        "Huyện Cái Nước", "Huyện Đầm Dơi", "Huyện Năm Căn", "Huyện Thới Bình",
        "Huyện U Minh", "Huyện Trần Văn Thời",
    ),
    "Cần Thơ": (
        "Quận Thốt Nốt", "Huyện Phong Điền", "Huyện Cờ Đỏ", "Huyện Thới Lai",
        "Huyện Vĩnh Thạnh",
    ),
    "Đồng Tháp": (
        "Thành phố Sa Đéc", "Thành phố Hồng Ngự", "Huyện Tháp Mười", "Huyện Thanh Bình",
        "Huyện Lấp Vò", "Huyện Tam Nông",
    ),
    "Hậu Giang": (
        "Thành phố Vị Thanh", "Thành phố Ngã Bảy", "Huyện Long Mỹ", "Huyện Vị Thủy",
    ),
    "Kiên Giang": (
        "Huyện Kiên Lương", "Huyện Hòn Đất", "Huyện Tân Hiệp", "Huyện Giồng Riềng",
        "Huyện Gò Quao", "Huyện An Biên",
    ),
    "Sóc Trăng": (
        "Thị xã Vĩnh Châu", "Thị xã Ngã Năm", "Huyện Mỹ Xuyên", "Huyện Kế Sách",
        "Huyện Long Phú",
    ),
    "Tiền Giang": (
        "Thị xã Gò Công", "Thị xã Cai Lậy", "Huyện Cái Bè", "Huyện Chợ Gạo",
        "Huyện Gò Công Tây",
    ),
    "Trà Vinh": (
        "Thị xã Duyên Hải", "Huyện Càng Long", "Huyện Cầu Kè", "Huyện Tiểu Cần",
        "Huyện Trà Cú",
    ),
    "Vĩnh Long": (
        "Huyện Mang Thít", "Huyện Tam Bình", "Huyện Trà Ôn", "Huyện Vũng Liêm",
    ),
}

# Ho Chi Minh City, weighted roughly by population (the 2022 districts, after Quận 2, 9
# and Thủ Đức merged into Thành phố Thủ Đức).
_HCM_DISTRICTS: dict[str, float] = {
    "Quận 1": 3, "Quận 3": 3, "Quận 4": 2, "Quận 5": 2.5, "Quận 6": 3, "Quận 7": 4,
    "Quận 8": 5, "Quận 10": 3.5, "Quận 11": 3, "Quận 12": 7, "Quận Bình Thạnh": 6,
    "Quận Gò Vấp": 8, "Quận Phú Nhuận": 2, "Quận Tân Bình": 5, "Quận Tân Phú": 5,
    "Quận Bình Tân": 9, "Thành phố Thủ Đức": 12, "Huyện Củ Chi": 5,
    "Huyện Hóc Môn": 5, "Huyện Bình Chánh": 8, "Huyện Nhà Bè": 2, "Huyện Cần Giờ": 0.8,
}

# Other provinces: a few real districts each, the provincial capital first (it gets a
# double weight, as most subscribers live in the towns).
_OTHER_DISTRICTS: dict[str, tuple[str, ...]] = {
    "Hà Nội": (
        "Quận Đống Đa", "Quận Ba Đình", "Quận Hoàn Kiếm", "Quận Hai Bà Trưng",
        "Quận Cầu Giấy", "Quận Thanh Xuân", "Quận Hoàng Mai", "Quận Long Biên",
        "Quận Tây Hồ", "Quận Nam Từ Liêm", "Quận Bắc Từ Liêm", "Quận Hà Đông",
        "Huyện Đông Anh", "Huyện Gia Lâm", "Huyện Thanh Trì", "Huyện Sóc Sơn",
        "Thị xã Sơn Tây",
    ),
    "Bắc Ninh": (
        "Thành phố Bắc Ninh", "Thành phố Từ Sơn", "Huyện Tiên Du", "Huyện Yên Phong",
    ),
    "Vĩnh Phúc": ("Thành phố Vĩnh Yên", "Thành phố Phúc Yên", "Huyện Bình Xuyên"),
    "Đà Nẵng": (
        "Quận Hải Châu", "Quận Thanh Khê", "Quận Sơn Trà", "Quận Ngũ Hành Sơn",
        "Quận Liên Chiểu", "Quận Cẩm Lệ", "Huyện Hòa Vang",
    ),
    "Thừa Thiên Huế": (
        "Thành phố Huế", "Thị xã Hương Thủy", "Thị xã Hương Trà", "Huyện Phú Vang",
    ),
    "Quảng Nam": (
        "Thành phố Tam Kỳ", "Thành phố Hội An", "Thị xã Điện Bàn", "Huyện Núi Thành",
    ),
    "Quảng Ngãi": ("Thành phố Quảng Ngãi", "Thị xã Đức Phổ", "Huyện Bình Sơn"),
    "Bình Định": ("Thành phố Quy Nhơn", "Thị xã An Nhơn", "Thị xã Hoài Nhơn"),
    "Quảng Trị": ("Thành phố Đông Hà", "Thị xã Quảng Trị", "Huyện Gio Linh"),
    "Quảng Bình": ("Thành phố Đồng Hới", "Thị xã Ba Đồn", "Huyện Bố Trạch"),
    "Thanh Hóa": (
        "Thành phố Thanh Hóa", "Thành phố Sầm Sơn", "Thị xã Bỉm Sơn",
        "Huyện Quảng Xương",
    ),
    "Nghệ An": (
        "Thành phố Vinh", "Thị xã Cửa Lò", "Huyện Diễn Châu", "Huyện Quỳnh Lưu",
    ),
    "Hà Tĩnh": ("Thành phố Hà Tĩnh", "Thị xã Hồng Lĩnh", "Huyện Cẩm Xuyên"),
    "Ninh Bình": ("Thành phố Ninh Bình", "Thành phố Tam Điệp", "Huyện Yên Khánh"),
    "Nam Định": ("Thành phố Nam Định", "Huyện Hải Hậu", "Huyện Giao Thủy"),
    "Hà Nam": ("Thành phố Phủ Lý", "Thị xã Duy Tiên", "Huyện Thanh Liêm"),
    "Hải Phòng": (
        "Quận Lê Chân", "Quận Hồng Bàng", "Quận Ngô Quyền", "Quận Kiến An",
        "Quận Hải An", "Quận Đồ Sơn", "Huyện Thủy Nguyên", "Huyện An Dương",
        "Huyện Vĩnh Bảo",
    ),
    "Quảng Ninh": (
        "Thành phố Hạ Long", "Thành phố Cẩm Phả", "Thành phố Uông Bí",
        "Thành phố Móng Cái",
    ),
    "Hải Dương": ("Thành phố Hải Dương", "Thành phố Chí Linh", "Thị xã Kinh Môn"),
    "Hưng Yên": ("Thành phố Hưng Yên", "Thị xã Mỹ Hào", "Huyện Văn Lâm"),
    "Thái Bình": ("Thành phố Thái Bình", "Huyện Quỳnh Phụ", "Huyện Tiền Hải"),
    "Thái Nguyên": ("Thành phố Thái Nguyên", "Thành phố Sông Công", "Thị xã Phổ Yên"),
    "Bắc Giang": ("Thành phố Bắc Giang", "Huyện Việt Yên", "Huyện Lục Nam"),
    "Phú Thọ": ("Thành phố Việt Trì", "Thị xã Phú Thọ", "Huyện Lâm Thao"),
    "Lào Cai": ("Thành phố Lào Cai", "Thị xã Sa Pa", "Huyện Bảo Thắng"),
    "Lạng Sơn": ("Thành phố Lạng Sơn", "Huyện Cao Lộc", "Huyện Hữu Lũng"),
    "Sơn La": ("Thành phố Sơn La", "Huyện Mộc Châu", "Huyện Mai Sơn"),
    "Hòa Bình": ("Thành phố Hòa Bình", "Huyện Lương Sơn", "Huyện Kim Bôi"),
    "Khánh Hòa": (
        "Thành phố Nha Trang", "Thành phố Cam Ranh", "Thị xã Ninh Hòa",
        "Huyện Diên Khánh",
    ),
    "Lâm Đồng": ("Thành phố Đà Lạt", "Thành phố Bảo Lộc", "Huyện Đức Trọng"),
    "Đắk Lắk": (
        "Thành phố Buôn Ma Thuột", "Thị xã Buôn Hồ", "Huyện Cư M'gar",
        "Huyện Krông Pắc",
    ),
    "Gia Lai": ("Thành phố Pleiku", "Thị xã An Khê", "Huyện Chư Sê"),
    "Bình Thuận": ("Thành phố Phan Thiết", "Thị xã La Gi", "Huyện Hàm Thuận Bắc"),
    "Ninh Thuận": (
        "Thành phố Phan Rang - Tháp Chàm", "Huyện Ninh Hải", "Huyện Ninh Phước",
    ),
    "Phú Yên": ("Thành phố Tuy Hòa", "Thị xã Sông Cầu", "Thị xã Đông Hòa"),
    "Bình Dương": (
        "Thành phố Thủ Dầu Một", "Thành phố Dĩ An", "Thành phố Thuận An",
        "Thị xã Bến Cát", "Thị xã Tân Uyên",
    ),
    "Đồng Nai": (
        "Thành phố Biên Hòa", "Thành phố Long Khánh", "Huyện Nhơn Trạch",
        "Huyện Long Thành", "Huyện Trảng Bom",
    ),
    "Bà Rịa - Vũng Tàu": (
        "Thành phố Vũng Tàu", "Thành phố Bà Rịa", "Thị xã Phú Mỹ", "Huyện Long Điền",
    ),
    "Long An": (
        "Thành phố Tân An", "Huyện Đức Hòa", "Huyện Bến Lức", "Huyện Cần Giuộc",
    ),
    "Tây Ninh": ("Thành phố Tây Ninh", "Thị xã Trảng Bàng", "Thị xã Hòa Thành"),
    "Bình Phước": ("Thành phố Đồng Xoài", "Thị xã Bình Long", "Thị xã Phước Long"),
}

# Share of subscribers per province, in percent: Ho Chi Minh City is the largest
# market, then Hanoi; the Mekong Delta together is about 15%.
_PROVINCE_WEIGHTS: dict[str, float] = {
    "Hồ Chí Minh": 30, "Hà Nội": 15,
    "Cần Thơ": 2.5, "An Giang": 1.8, "Kiên Giang": 1.6, "Đồng Tháp": 1.3,
    "Tiền Giang": 1.4, "Sóc Trăng": 1.0, "Vĩnh Long": 1.0, "Bến Tre": 1.1,
    "Cà Mau": 1.0, "Trà Vinh": 0.8, "Bạc Liêu": 0.7, "Hậu Giang": 0.6,
    "Bình Dương": 3.5, "Đồng Nai": 3.5, "Bà Rịa - Vũng Tàu": 1.6, "Long An": 1.5,
    "Tây Ninh": 0.9, "Bình Phước": 0.7,
    "Khánh Hòa": 1.3, "Lâm Đồng": 1.0, "Đắk Lắk": 1.2, "Gia Lai": 0.8,
    "Bình Thuận": 0.9, "Ninh Thuận": 0.4, "Phú Yên": 0.6,
    "Đà Nẵng": 2.0, "Thừa Thiên Huế": 0.9, "Quảng Nam": 1.0, "Quảng Ngãi": 0.8,
    "Bình Định": 1.0, "Quảng Trị": 0.4, "Quảng Bình": 0.5,
    "Thanh Hóa": 1.6, "Nghệ An": 1.5, "Hà Tĩnh": 0.6, "Ninh Bình": 0.5,
    "Nam Định": 0.7, "Hà Nam": 0.4,
    "Hải Phòng": 2.0, "Quảng Ninh": 1.1, "Hải Dương": 0.9, "Hưng Yên": 0.6,
    "Thái Bình": 0.7,
    "Thái Nguyên": 0.7, "Bắc Giang": 0.8, "Phú Thọ": 0.6, "Lào Cai": 0.3,
    "Lạng Sơn": 0.3, "Sơn La": 0.3, "Hòa Bình": 0.3,
    "Bắc Ninh": 1.0, "Vĩnh Phúc": 0.7,
}

# Family names, roughly by frequency; Huỳnh and Võ are the southern and central forms
# of Hoàng and Vũ, so the two halves of the country get different tables.
_FAMILY_NORTH = {
    "Nguyễn": 38, "Trần": 11, "Lê": 9.5, "Phạm": 7.5, "Hoàng": 5, "Vũ": 4.5,
    "Phan": 3, "Đặng": 2.5, "Bùi": 2.5, "Đỗ": 2.2, "Ngô": 1.5, "Dương": 1.2,
    "Đinh": 1.2, "Lý": 0.6, "Trịnh": 1.0, "Đào": 1.0, "Lương": 0.6, "Mai": 0.6,
    "Hà": 0.7, "Tạ": 0.3, "Chu": 0.3, "Lưu": 0.4, "Cao": 0.5, "Tô": 0.3,
}
_FAMILY_SOUTH = {
    "Nguyễn": 38, "Trần": 11, "Lê": 9.5, "Phạm": 6, "Huỳnh": 5, "Võ": 4.5,
    "Phan": 4.5, "Trương": 1.5, "Đặng": 1.8, "Bùi": 1.5, "Đỗ": 1.2, "Hồ": 1.6,
    "Ngô": 1.3, "Dương": 1.0, "Lý": 0.8, "Đinh": 0.6, "Lâm": 0.8, "Thái": 0.4,
    "Châu": 0.5, "Tăng": 0.3, "Quách": 0.3, "Mai": 0.5, "La": 0.2, "Kiều": 0.2,
}
_MIDDLE_MALE = {
    "Văn": 40, "Minh": 10, "Hữu": 8, "Đức": 7, "Quốc": 6, "Thanh": 6, "Công": 5,
    "Hoàng": 4, "Ngọc": 3, "Xuân": 3, "Tấn": 4, "Trọng": 3, "Anh": 2, "Gia": 2,
}
_MIDDLE_FEMALE = {
    "Thị": 45, "Ngọc": 10, "Thu": 6, "Thanh": 6, "Kim": 5, "Minh": 4, "Mỹ": 4,
    "Bích": 3, "Hồng": 4, "Phương": 3, "Thùy": 3, "Hoài": 2, "Diệu": 2, "Bảo": 2,
}
_GIVEN_MALE = (
    "Anh", "Bảo", "Bình", "Cường", "Dũng", "Đạt", "Hải", "Hiếu", "Hùng", "Huy",
    "Khang", "Khoa", "Long", "Minh", "Nam", "Nghĩa", "Phong", "Phúc", "Quang", "Sơn",
    "Tài", "Thắng", "Thành", "Tiến", "Toàn", "Trung", "Tuấn", "Việt", "Vinh", "Lâm",
    "Kiên", "Tâm", "Tín", "Nhân", "Lộc", "Phát", "Hòa", "Hưng", "Thịnh", "Quân",
    "Duy", "Đông", "Hậu", "Lợi", "Sang", "Tùng", "Vũ", "Khánh",
)
_GIVEN_FEMALE = (
    "Anh", "Chi", "Dung", "Giang", "Hà", "Hạnh", "Hằng", "Hoa", "Hương", "Huyền",
    "Lan", "Linh", "Loan", "Mai", "My", "Nga", "Ngân", "Nhung", "Oanh", "Phương",
    "Quyên", "Thảo", "Trang", "Trinh", "Tuyết", "Uyên", "Vân", "Vy", "Yến", "Nhi",
    "Thủy", "Hiền", "Thư", "Diễm", "Tiên", "Hồng", "Liên", "Nhàn", "Thoa", "Xuân",
)
# Foreign subscribers' names as their passports spell them.
_FOREIGN_NAMES: dict[str, tuple[str, ...]] = {
    "CN": ("WANG WEI", "LI NA", "ZHANG WEI", "LIU YANG", "CHEN JIE"),
    "KR": ("KIM MIN JUN", "LEE JI HOON", "PARK SEO YEON", "CHOI YOUNG HO"),
    "JP": ("SATO HIROSHI", "SUZUKI YUKI", "TANAKA KENJI", "WATANABE AYA"),
    "TW": ("CHEN CHIH HAO", "LIN MEI LING", "HUANG WEN CHIEH"),
    "US": ("JOHN SMITH", "MICHAEL JOHNSON", "EMILY DAVIS", "DAVID NGUYEN"),
    "FR": ("PIERRE MARTIN", "SOPHIE BERNARD", "NICOLAS DUBOIS"),
    "AU": ("JAMES WILSON", "OLIVIA BROWN"),
    "GB": ("THOMAS WRIGHT", "CHARLOTTE GREEN"),
    "DE": ("MARKUS MUELLER", "ANNA SCHMIDT"),
    "TH": ("SOMCHAI SRISUK", "NATTAYA KAEWKLA"),
    "LA": ("SOUKSAVANH PHOMMACHANH", "KHAMPHOUI VONGSA"),
    "KH": ("SOK DARA", "CHAN SOPHEAP"),
    "SG": ("TAN WEI MING", "LIM HUI LING"),
    "IN": ("RAHUL SHARMA", "PRIYA PATEL"),
    "RU": ("IVAN PETROV", "OLGA IVANOVA"),
}
_FOREIGN_WEIGHTS = {
    "CN": 25, "KR": 25, "JP": 10, "TW": 10, "US": 8, "FR": 4, "AU": 3, "GB": 3,
    "DE": 2, "TH": 3, "LA": 2, "KH": 2, "SG": 1, "IN": 1, "RU": 1,
}

_COMPANY_FORMS = (
    "Công ty TNHH", "Công ty Cổ phần", "Công ty TNHH MTV", "Doanh nghiệp tư nhân",
)
_COMPANY_TRADES = (
    "Thương mại", "Dịch vụ", "Xây dựng", "Vận tải", "Đầu tư", "Thương mại Dịch vụ",
    "Sản xuất", "Công nghệ", "Du lịch", "Xuất nhập khẩu", "Thủy sản", "Bất động sản",
)
_COMPANY_NAMES = (
    "Minh Phát", "Hoàng Long", "Thành Công", "Phú Thịnh", "An Khang", "Đại Việt",
    "Tân Tiến", "Hưng Thịnh", "Sao Mai", "Phương Nam", "Bình Minh", "Việt Hưng",
    "Trường Sơn", "Hòa Bình", "Kim Ngân", "Thiên Long", "Mekong", "Cửu Long",
    "Sài Gòn Xanh", "Đông Á",
)

_STREETS = (
    "Nguyễn Trãi", "Lê Lợi", "Trần Hưng Đạo", "Hai Bà Trưng", "Lý Thường Kiệt",
    "Nguyễn Huệ", "Điện Biên Phủ", "Cách Mạng Tháng Tám", "Võ Văn Tần",
    "Phan Đình Phùng", "Hùng Vương", "Quang Trung", "30 Tháng 4", "3 Tháng 2",
    "Nguyễn Văn Cừ", "Lê Duẩn", "Trần Phú", "Nguyễn Thị Minh Khai", "Lê Hồng Phong",
    "Bạch Đằng", "Hoàng Văn Thụ", "Nguyễn Du", "Pasteur", "Lạc Long Quân",
    "Phạm Văn Đồng", "Nguyễn Văn Linh", "Tôn Đức Thắng", "Lê Văn Sỹ", "Mậu Thân",
    "Trần Quang Khải",
)

_LOYALTY_TIERS = ("Titan", "Bạc", "Vàng", "Kim Cương")
_PACKAGES = {
    "C90N": 18, "MAX90": 10, "12C90N": 8, "6C90N": 5, "C50N": 6, "C120": 6,
    "MAX200": 4, "12MAX90": 3, "HD70": 5, "HD90": 6, "HD120": 4, "ED50": 3,
    "KC90": 3, "FD60": 2,
}
_POSTPAID_PAYMENT = {
    "cash": 34, "bank_online": 20, "bank_auto_debit": 20, "bank_collection": 14,
    "bank_transfer": 12,
}
_ENTERPRISE_PAYMENT = {
    "cash": 10, "bank_online": 10, "bank_auto_debit": 15, "bank_collection": 25,
    "bank_transfer": 40,
}
_STATUS = {"2C": 88, "1C": 3.5, "0C": 3.0, "CANCELLED": 5.5}
_ENTERPRISE_ROLES = {"": 30, "staff": 45, "head_of_department": 17, "director": 8}
_LINE_KINDS = {"normal": 98.8, "service": 0.8, "test": 0.4}
_VLR_DAYS = {7: 78, 6: 5, 5: 4, 4: 3, 3: 2.5, 2: 2, 1: 2, 0: 3.5}
_HANDSET_NETWORKS = {"2G": 10, "3G": 15, "4G": 70, "5G": 5}
# handset network -> OS weights: 2G phones are feature phones, 4G/5G smartphones.
_HANDSET_OS = {
    "2G": {"other": 95, "Android": 5},
    "3G": {"Android": 60, "iOS": 10, "other": 30},
    "4G": {"Android": 68, "iOS": 32},
    "5G": {"Android": 50, "iOS": 50},
}
_SIM_4G_SHARE = {"2G": 0.2, "3G": 0.35, "4G": 0.72, "5G": 0.95}

_UNKNOWN_STATUSES = ("ACTIVE", "SUSPENDED", "3C", "TEMP")
_BAD_MSISDN_TEXTS = ("abc", "N/A", "khong co", "090xxxxxxx")
# Formatting ints and floats dominates the cost of a CSV line; small values come
# from these tables instead.
_DIGITS = tuple(str(n) for n in range(10))
_PER_MILLE_TEXT = tuple(f"{n / 1000:.3f}" for n in range(1000))
_CYCLE_RE = re.compile(r"^(\d{4})-(\d{2})$")
_TABLE_SIZE = 4096

# fmt: on


@dataclass
class GeneratedSnapshot:
    """What generate_snapshot wrote; counts are data rows, headers excluded."""

    subscribers_path: Path
    billing_path: Path
    subscriber_count: int
    billing_count: int
    cycles: list[str]
    messy: dict[str, int] = field(default_factory=dict)


def _nfc(text: str) -> str:
    # Source files may be saved decomposed by some editors; the data must be NFC.
    return unicodedata.normalize("NFC", text)


def _table(weights: dict, size: int = _TABLE_SIZE) -> list:
    """A lookup list where each value fills a share of slots equal to its weight.

    Picking table[int(random() * len(table))] is several times faster than
    random.choices, which matters at millions of draws.
    """
    total = float(sum(weights.values()))
    slots = [(value, weight / total * size) for value, weight in weights.items()]
    counts = {value: int(share) for value, share in slots}
    # Largest remainder, so the table has exactly `size` slots and rare values with a
    # positive weight keep at least their rounded share.
    left = size - sum(counts.values())
    by_remainder = sorted(slots, key=lambda s: s[1] - int(s[1]), reverse=True)
    for value, _share in by_remainder[:left]:
        counts[value] += 1
    table: list = []
    for value, _share in slots:
        table.extend([value] * counts[value])
    return table


def _nfc_keys(weights: dict[str, float]) -> dict[str, float]:
    return {_nfc(key): value for key, value in weights.items()}


def _build_places() -> list[tuple[str, str, int, bool]]:
    """(province, district, company, is_south) slots weighted by population."""
    weights: dict[tuple[str, str, int, bool], float] = {}
    for province, share in _PROVINCE_WEIGHTS.items():
        company = PROVINCE_COMPANY[province]
        south = company in (2, 3, 7, 8, 9)
        if province == "Hồ Chí Minh":
            district_weights = dict(_HCM_DISTRICTS)
        elif province in MEKONG_CENTRAL_DISTRICTS:
            district_weights = {d: 3.0 for d in MEKONG_CENTRAL_DISTRICTS[province]}
            for district in _MEKONG_OTHER_DISTRICTS[province]:
                district_weights[district] = 1.0
        else:
            districts = _OTHER_DISTRICTS[province]
            district_weights = {d: 1.0 for d in districts}
            district_weights[districts[0]] = 2.0
        total = sum(district_weights.values())
        for district, weight in district_weights.items():
            key = (_nfc(province), _nfc(district), company, south)
            weights[key] = share * weight / total
    return _table(weights, size=1 << 16)


class _Tables:
    """Choice tables built once per process; building them costs a few milliseconds."""

    def __init__(self) -> None:
        self.places = _build_places()
        self.family_north = _table(_nfc_keys(_FAMILY_NORTH))
        self.family_south = _table(_nfc_keys(_FAMILY_SOUTH))
        self.middle_male = _table(_nfc_keys(_MIDDLE_MALE))
        self.middle_female = _table(_nfc_keys(_MIDDLE_FEMALE))
        self.given_male = [_nfc(name) for name in _GIVEN_MALE]
        self.given_female = [_nfc(name) for name in _GIVEN_FEMALE]
        self.foreign_nationality = _table(_FOREIGN_WEIGHTS)
        self.foreign_names = _FOREIGN_NAMES
        self.company_forms = [_nfc(x) for x in _COMPANY_FORMS]
        self.company_trades = [_nfc(x) for x in _COMPANY_TRADES]
        self.company_names = [_nfc(x) for x in _COMPANY_NAMES]
        self.streets = [_nfc(x) for x in _STREETS]
        self.status = _table(_STATUS)
        self.roles = _table(_ENTERPRISE_ROLES)
        self.line_kinds = _table(_LINE_KINDS)
        self.vlr_days = _table(_VLR_DAYS)
        self.networks = _table(_HANDSET_NETWORKS)
        self.os_by_network = {n: _table(w, 256) for n, w in _HANDSET_OS.items()}
        self.packages = _table(_PACKAGES)
        self.postpaid_payment = _table(_POSTPAID_PAYMENT)
        self.enterprise_payment = _table(_ENTERPRISE_PAYMENT)
        self.prefix_eras = [(year, _table(w, 1024)) for year, w in _PREFIX_ERAS]
        self.tiers = [_nfc(t) for t in _LOYALTY_TIERS]


_tables: _Tables | None = None


def _get_tables() -> _Tables:
    global _tables
    if _tables is None:
        _tables = _Tables()
    return _tables


def _parse_cycle(value: str) -> tuple[int, int]:
    match = _CYCLE_RE.match(value or "")
    if not match or not 1 <= int(match.group(2)) <= 12:
        raise ValueError(f"last_cycle must be YYYY-MM, got {value!r}")
    year = int(match.group(1))
    # Lines date from 1993 on and birth years from 1940, so earlier snapshots would
    # make no sense.
    if not MIN_YEAR <= year <= MAX_YEAR:
        raise ValueError(
            f"last_cycle must be between {MIN_YEAR}-01 and {MAX_YEAR}-12, got {value!r}"
        )
    return year, int(match.group(2))


def cycle_labels(*, last_cycle: str, cycles: int) -> list[str]:
    """The `cycles` billing cycles ending at last_cycle, oldest first, as YYYY-MM."""
    year, month = _parse_cycle(last_cycle)
    last = year * 12 + month - 1
    months = range(last - cycles + 1, last + 1)
    return [f"{m // 12:04d}-{m % 12 + 1:02d}" for m in months]


def snapshot_date(last_cycle: str) -> dt.date:
    """The data snapshot: the last day of the last billing cycle."""
    year, month = _parse_cycle(last_cycle)
    first_of_next = dt.date(year + month // 12, month % 12 + 1, 1)
    return first_of_next - dt.timedelta(days=1)


@dataclass
class _Params:
    size: int
    cycle_labels: list[str]
    first_cycle_index: int  # year * 12 + month - 1 of the oldest cycle
    snapshot: dt.date
    xlsx: bool
    messy_rate: float
    seed: int
    tail_mul: int
    tail_add: int


def _tail_permutation(seed: int) -> tuple[int, int]:
    """Multiplier and offset of i -> (a * i + b) mod 10**7, a bijection on 7 digits.

    a is coprime with 10, hence invertible modulo 10**7, so distinct row indexes
    give distinct tails whatever the prefix.
    """
    rng = random.Random(f"{seed}/msisdn")
    mul = rng.randrange(1_000_003, 9_999_991)
    while mul % 2 == 0 or mul % 5 == 0:
        mul += 1
    return mul, rng.randrange(10**7)


def _excel_float_text(digits: str) -> str:
    """'901234567' as a spreadsheet's scientific text that kept every digit.

    Only this lossless form is written: a shortened mantissa (9.01235E+08) has lost
    digits and could not be told apart from a bad number.
    """
    return f"{digits[0]}.{digits[1:]}E+{len(digits) - 1}"


def _generate_chunk(
    params: _Params, chunk_no: int, start: int, count: int
) -> tuple[list, list, dict[str, int]]:
    """Subscriber rows, billing rows and messy counts for rows start..start+count-1.

    Rows are CSV lines (without the newline) for CSV output and tuples of typed values
    (ints, dates) for XLSX output.
    """
    t = _get_tables()
    rng = random.Random(f"{params.seed}/{chunk_no}")
    rnd = rng.random
    gauss = rng.gauss
    log = math.log
    exp = math.exp
    fromordinal = dt.date.fromordinal

    xlsx = params.xlsx
    text = not xlsx
    digit = _DIGITS
    snap = params.snapshot
    snap_ord = snap.toordinal()
    launch_ord = MOBIFONE_LAUNCH.toordinal()
    labels = params.cycle_labels
    n_cycles = len(labels)
    first_cycle = params.first_cycle_index
    messy_rate = params.messy_rate
    tail_mul, tail_add = params.tail_mul, params.tail_add

    places, n_places = t.places, len(t.places)
    fam_n, fam_s, n_fam = t.family_north, t.family_south, _TABLE_SIZE
    mid_m, mid_f = t.middle_male, t.middle_female
    giv_m, giv_f = t.given_male, t.given_female
    n_giv_m, n_giv_f = len(giv_m), len(giv_f)
    streets, n_streets = t.streets, len(t.streets)
    status_t, roles_t, kinds_t = t.status, t.roles, t.line_kinds
    vlr_t, net_t, os_by_net = t.vlr_days, t.networks, t.os_by_network
    pkg_t, post_pay_t, ent_pay_t = t.packages, t.postpaid_payment, t.enterprise_payment
    prefix_eras = t.prefix_eras
    tiers = t.tiers
    year_start = {y: dt.date(y, 1, 1).toordinal() for y in range(1900, snap.year + 2)}

    # CSV rows come back as ready-made lines, XLSX rows as typed tuples.
    sub_rows: list = []
    bill_rows: list = []
    sub_append, bill_append = sub_rows.append, bill_rows.append
    messy = dict.fromkeys(MESSY_KINDS, 0)
    # Rotating through the kinds spreads the messy rows evenly; the offset keeps small
    # chunks from always starting with the same kind.
    next_kind = chunk_no % len(MESSY_KINDS)
    written_numbers: list[str] = []  # valid national numbers already in this chunk

    for index in range(start, start + count):
        # --- who and where -------------------------------------------------------
        enterprise = rnd() < 0.08
        prepaid = rnd() < (0.15 if enterprise else 0.585)
        province, district, company, south = places[int(rnd() * n_places)]
        line_kind = kinds_t[int(rnd() * _TABLE_SIZE)]
        status = status_t[int(rnd() * _TABLE_SIZE)]

        # Tenure in months: exponential, longer for postpaid and enterprise lines,
        # capped at 30 years (MobiFone opened in 1993).
        mean_months = 90.0 if enterprise else (45.0 if prepaid else 80.0)
        if line_kind == "test":
            mean_months, status, prepaid = 8.0, "2C", True
        months = -log(1.0 - rnd()) * mean_months
        if months >= 360.0:
            months = rnd() * 360.0
        contract_ord = snap_ord - int(months * 30.4375)
        if contract_ord < launch_ord < snap_ord:
            # No line predates the network: move it into its first years.
            contract_ord = launch_ord + int(rnd() * min(1826, snap_ord - launch_ord))
        contract = fromordinal(contract_ord)
        contract_month = contract.year * 12 + contract.month - 1

        for last_year, prefix_table in prefix_eras:
            if contract.year < last_year:
                prefix = prefix_table[int(rnd() * 1024)]
                break
        tail = f"{(tail_mul * index + tail_add) % 10_000_000:07d}"
        national = f"0{prefix}{tail}"

        # --- revenue profile ----------------------------------------------------
        if line_kind == "test":
            arpu = 0.0
        else:
            # Lognormal ARPU: median about 80k (prepaid), 200k (postpaid), 300k
            # (enterprise); overall median near 120k with a long tail past 5M.
            median = 300_000.0 if enterprise else (80_000.0 if prepaid else 200_000.0)
            arpu = median * exp(gauss(0.0, 1.0))

        # --- identity ------------------------------------------------------------
        role = roles_t[int(rnd() * _TABLE_SIZE)] if enterprise else ""
        foreign = rnd() < 0.007
        if foreign:
            nationality = t.foreign_nationality[int(rnd() * _TABLE_SIZE)]
            names = t.foreign_names[nationality]
            full_name = names[int(rnd() * len(names))]
        else:
            nationality = "VN"
            if enterprise and not role and rnd() < 0.5:
                full_name = (
                    f"{t.company_forms[int(rnd() * 4)]} "
                    f"{t.company_trades[int(rnd() * len(t.company_trades))]} "
                    f"{t.company_names[int(rnd() * len(t.company_names))]}"
                )
            else:
                family = (fam_s if south else fam_n)[int(rnd() * n_fam)]
                if rnd() < 0.5:
                    middle = mid_m[int(rnd() * _TABLE_SIZE)]
                    given = giv_m[int(rnd() * n_giv_m)]
                else:
                    middle = mid_f[int(rnd() * _TABLE_SIZE)]
                    given = giv_f[int(rnd() * n_giv_f)]
                    if rnd() < 0.15:
                        # Two-part middle names, e.g. Nguyễn Thị Ngọc Anh.
                        middle = f"{middle} {mid_f[int(rnd() * _TABLE_SIZE)]}"
                full_name = f"{family} {middle} {given}"

        if full_name.startswith(("Công ty", "Doanh nghiệp")):
            birth = ""
        elif rnd() < 0.06:
            birth = ""
        else:
            # Old enough to sign the contract; skewed towards younger customers.
            latest = min(2006, contract.year - 16)
            if latest < 1940:
                latest = 1960
            year = latest - int((latest - 1940) * rnd() * rnd())
            birth = fromordinal(year_start[year] + int(rnd() * 365))
            if text:
                birth = birth.isoformat()

        r = rnd()
        if r < 0.08:
            address = ""
        elif district.startswith("Huyện"):
            # Rural addresses name the hamlet: ấp in the south, thôn in the north.
            address = (
                f"Ấp {1 + int(rnd() * 9)}" if south else f"Thôn {1 + int(rnd() * 12)}"
            )
        else:
            street = streets[int(rnd() * n_streets)]
            number = 1 + int(rnd() * 500)
            if r < 0.4:
                # Alley addresses: 123/45 (hẻm) in the south, ngõ in the north.
                if south:
                    address = f"{number}/{1 + int(rnd() * 60)} {street}"
                else:
                    address = f"Số {1 + int(rnd() * 80)} ngõ {number} {street}"
            else:
                address = f"{number} {street}"
            if south:
                address = f"{address}, Phường {1 + int(rnd() * 15)}"

        is_owner = (0 if role else 1) if enterprise else (1 if rnd() < 0.88 else 0)
        standardized = 1 if rnd() < (0.6 if prepaid and months > 120 else 0.86) else 0
        # Premium customers (KHCC) are mostly the big spenders.
        premium = 1 if (arpu > 700_000 and rnd() < 0.4) or rnd() < 0.005 else 0

        loyalty_p = 0.15
        if months > 60:
            loyalty_p += 0.1
        if arpu > 300_000:
            loyalty_p += 0.08
        loyalty = 1 if line_kind == "normal" and rnd() < loyalty_p else 0
        points = int(arpu / 1000.0 * (1.0 + 23.0 * rnd()))
        if loyalty:
            if arpu > 1_500_000:
                tier = tiers[3]
            elif arpu > 500_000:
                tier = tiers[2]
            elif arpu > 200_000 or months > 120:
                tier = tiers[1]
            else:
                tier = tiers[0]
        else:
            tier = ""

        if status == "CANCELLED" or status == "0C":
            vlr = 0 if rnd() < 0.8 else vlr_t[int(rnd() * _TABLE_SIZE)]
        else:
            vlr = vlr_t[int(rnd() * _TABLE_SIZE)]
        network = net_t[int(rnd() * _TABLE_SIZE)]
        handset_os = os_by_net[network][int(rnd() * 256)]
        sim_4g = 1 if rnd() < _SIM_4G_SHARE[network] else 0
        smartphone = handset_os != "other"

        if prepaid:
            payment = "prepaid_balance"
        elif enterprise:
            payment = ent_pay_t[int(rnd() * _TABLE_SIZE)]
        else:
            payment = post_pay_t[int(rnd() * _TABLE_SIZE)]
        package = "" if rnd() < 0.3 else pkg_t[int(rnd() * _TABLE_SIZE)]
        mvas_idle = 1 if rnd() < 0.1 else 0
        has_app = 1 if rnd() < (0.5 if smartphone else 0.05) else 0

        churn = rnd() * rnd()
        if prepaid and months < 12:
            churn += 0.25
        if vlr < 4:
            churn += 0.2
        if status == "1C" or status == "0C":
            churn += 0.3
        elif status == "CANCELLED":
            churn = 0.9 + 0.09 * rnd()
        # Per mille, so that the text is a table lookup rather than float formatting.
        churn_pm = int(churn * 1000.0)
        if churn_pm > 999:
            churn_pm = 999

        # A warehouse export mixes the two date spellings the format allows; XLSX
        # gets date cells. The draw happens for both formats so that a seed gives
        # the same population in CSV and XLSX.
        day_first = rnd() < 0.1
        if not text:
            contract_out = contract
        elif day_first:
            contract_out = f"{contract.day:02d}/{contract.month:02d}/{contract.year}"
        else:
            contract_out = contract.isoformat()
        # A transfer restarts the contract: the new owner's contract date is the
        # transfer date, and tenure counts from it.
        owner_changed = contract_out if months < 240 and rnd() < 0.02 else ""

        r = rnd()
        if r < 0.8:
            msisdn_out = national
        elif r < 0.92:
            msisdn_out = f"84{national[1:]}"
        else:
            msisdn_out = f"+84 {prefix} {tail[:3]} {tail[3:]}"

        # --- injected problems -----------------------------------------------------
        kind = ""
        if messy_rate and rnd() < messy_rate:
            kind = MESSY_KINDS[next_kind]
            next_kind = (next_kind + 1) % len(MESSY_KINDS)
            if kind == "duplicate_msisdn" and not written_numbers:
                kind = "numeric_msisdn"
            # Cancelled lines may have no billing row to spoil.
            if kind == "negative_revenue" and status == "CANCELLED":
                kind = "numeric_msisdn"
        if kind:
            if kind == "numeric_msisdn":
                digits = national[1:]
                r = rnd()
                if xlsx:
                    msisdn_out = int(digits) if r < 0.5 else float(digits)
                elif r < 0.4:
                    msisdn_out = f"{digits}.0"
                elif r < 0.7:
                    msisdn_out = _excel_float_text(digits)
                else:
                    msisdn_out = digits
            elif kind == "bad_msisdn":
                r = rnd()
                if r < 0.4:
                    msisdn_out = national[: 4 + int(rnd() * 5)]
                elif r < 0.7:
                    msisdn_out = _BAD_MSISDN_TEXTS[int(rnd() * 4)]
                else:
                    msisdn_out = f"{national}{int(rnd() * 90) + 10}"
            elif kind == "duplicate_msisdn":
                earlier = written_numbers[int(rnd() * len(written_numbers))]
                msisdn_out = earlier if rnd() < 0.5 else f"84{earlier[1:]}"
            elif kind == "bad_date":
                y = contract.year
                bad = (f"31/02/{y}", f"{y}-13-45", f"{y}-02-30", f"32/01/{y}")[
                    int(rnd() * 4)
                ]
                if rnd() < 0.8 or not birth:
                    contract_out = bad
                else:
                    birth = bad
            elif kind == "unknown_status":
                status = _UNKNOWN_STATUSES[int(rnd() * len(_UNKNOWN_STATUSES))]
            messy[kind] += 1
        if kind not in REJECTED_SUBSCRIBER_KINDS:
            written_numbers.append(national)

        subscription = "prepaid" if prepaid else "postpaid"
        customer_type = "enterprise" if enterprise else "individual"
        if text:
            # Hand-formatted: several times faster than csv.writer, and only the
            # free-text fields can hold a comma.
            if "," in full_name:
                full_name = f'"{full_name}"'
            if "," in address:
                address = f'"{address}"'
            sub_append(
                f"{msisdn_out},{full_name},{subscription},{status},{contract_out},"
                f"{customer_type},{role},{digit[company]},{province},{district},"
                f"{address},{birth},{nationality},{digit[is_owner]},"
                f"{digit[standardized]},{digit[premium]},{digit[loyalty]},{tier},"
                f"{points},{line_kind},{digit[vlr]},{network},{handset_os},"
                f"{digit[sim_4g]},{payment},{package},{digit[mvas_idle]},"
                f"{digit[has_app]},{_PER_MILLE_TEXT[churn_pm]},{owner_changed}"
            )
        else:
            sub_append(
                (
                    msisdn_out,
                    full_name,
                    subscription,
                    status,
                    contract_out,
                    customer_type,
                    role,
                    company,
                    province,
                    district,
                    address,
                    birth,
                    nationality,
                    is_owner,
                    standardized,
                    premium,
                    loyalty,
                    tier,
                    points,
                    line_kind,
                    vlr,
                    network,
                    handset_os,
                    sim_4g,
                    payment,
                    package,
                    mvas_idle,
                    has_app,
                    churn_pm / 1000.0,
                    owner_changed,
                )
            )

        # --- billing ---------------------------------------------------------------
        if kind in REJECTED_SUBSCRIBER_KINDS:
            continue
        first = max(0, contract_month - first_cycle)
        last = n_cycles - 1
        if status == "CANCELLED":
            # Cancelled some time around the window; 40% before it began.
            last = int(rnd() * (n_cycles + n_cycles * 2 // 3)) - (n_cycles * 2 // 3)
        if first > last:
            continue
        bill_msisdn = national if rnd() < 0.9 else f"84{national[1:]}"

        excluded_share = 0.0
        if enterprise and rnd() < 0.25:
            # OneContact / mBiz360 / commitment packages on enterprise lines.
            excluded_share = 0.2 + 0.4 * rnd()
        elif rnd() < 0.4:
            excluded_share = 0.05 * rnd()
        base_share = 0.8 + 0.2 * rnd() if rnd() < 0.85 else 0.55 + 0.25 * rnd()
        if base_share > 1.0 - excluded_share:
            base_share = 1.0 - excluded_share
        sms_f = 0.01 + 0.07 * rnd()
        voice_f = 0.2 + 0.5 * rnd() if smartphone else 0.75 + 0.2 * rnd()
        if voice_f + sms_f > 1.0:
            voice_f = 1.0 - sms_f
        debt_prone = (not prepaid) and rnd() < 0.12
        blocked_now = (not prepaid) and (status == "1C" or status == "0C")
        negative_at = -1
        if kind == "negative_revenue":
            negative_at = first + int(rnd() * (last - first + 1))

        for c in range(first, last + 1):
            total = int(arpu * (0.6 + 0.8 * rnd()))
            if prepaid and rnd() < 0.03:
                total = 0  # an idle month on a prepaid line
            excluded = int(total * excluded_share)
            core = int(total * base_share)
            voice = int(core * voice_f)
            sms = int(core * sms_f)
            data = core - voice - sms
            if prepaid:
                paid, debt = 1, 0
            elif debt_prone and rnd() < 0.3:
                paid, debt = 0, 1
            elif blocked_now and c == last and rnd() < 0.6:
                paid, debt = 0, 1
            else:
                paid, debt = (0 if rnd() < 0.02 else 1), 0
            if c == negative_at:
                total = -(total or 1000 + int(rnd() * 50_000))
            if text:
                bill_append(
                    f"{bill_msisdn},{labels[c]},{total},{voice},{sms},{data},"
                    f"{excluded},{digit[paid]},{digit[debt]},{payment}"
                )
            else:
                bill_append(
                    (
                        bill_msisdn,
                        labels[c],
                        total,
                        voice,
                        sms,
                        data,
                        excluded,
                        paid,
                        debt,
                        payment,
                    )
                )

    return sub_rows, bill_rows, messy


def _chunks(size: int) -> Iterator[tuple[int, int, int]]:
    for chunk_no, start in enumerate(range(0, size, CHUNK_SIZE)):
        yield chunk_no, start, min(CHUNK_SIZE, size - start)


class _CsvSink:
    """Writes CSV lines already formatted by _generate_chunk, or tuples."""

    def __init__(self, path: Path, header: Sequence[str]) -> None:
        self._file = path.open("w", encoding="utf-8", newline="")
        self._writer = csv.writer(self._file, lineterminator="\n")
        self._writer.writerow(header)

    def write_lines(self, lines: list[str]) -> None:
        if lines:
            self._file.write("\n".join(lines))
            self._file.write("\n")

    def write_rows(self, rows: list[tuple]) -> None:
        self._writer.writerows(rows)

    def close(self) -> None:
        self._file.close()


class _XlsxSink:
    def __init__(self, path: Path, header: Sequence[str], title: str) -> None:
        from openpyxl import Workbook

        self._path = path
        self._workbook = Workbook(write_only=True)
        self._sheet = self._workbook.create_sheet(title)
        self._sheet.append(list(header))

    def write_rows(self, rows: list[tuple]) -> None:
        append = self._sheet.append
        for row in rows:
            # Blank cells, as Excel exports them, rather than empty strings.
            append([None if value == "" else value for value in row])

    def close(self) -> None:
        self._workbook.save(self._path)


def _validate(
    *, size: int, cycles: int, last_cycle: str, file_format: str, messy_rate: float
) -> None:
    if size < 1:
        raise ValueError("size must be at least 1")
    if size > MAX_SIZE:
        raise ValueError(f"size must be at most {MAX_SIZE:,}")
    if not 1 <= cycles <= MAX_CYCLES:
        raise ValueError(f"cycles must be between 1 and {MAX_CYCLES}")
    _parse_cycle(last_cycle)
    if file_format not in ("csv", "xlsx"):
        raise ValueError(f"file_format must be csv or xlsx, got {file_format!r}")
    if not 0.0 <= messy_rate <= 1.0:
        raise ValueError("messy_rate must be between 0 and 1")
    if file_format == "xlsx" and size * cycles > XLSX_MAX_ROWS:
        raise ValueError(
            f"an XLSX sheet holds {XLSX_MAX_ROWS:,} data rows; size x cycles "
            f"({size * cycles:,}) may not fit, use csv"
        )


def generate_snapshot(
    *,
    out_dir: Path,
    size: int,
    cycles: int = 6,
    last_cycle: str = "2022-10",
    file_format: str = "csv",
    messy_rate: float = 0.0,
    seed: int = 1,
    progress: Callable[[int, int], None] | None = None,
) -> GeneratedSnapshot:
    """Write subscribers.<fmt> and billing.<fmt> to out_dir and describe them.

    `size` subscriber rows are written, messy ones included. The billing file has one
    row per line and cycle for the `cycles` months ending at last_cycle, from the
    line's contract month on; cancelled lines stop billing at their cancellation,
    some before the window. Lines whose subscriber row was made unusable (bad or
    duplicate MSISDN, bad date, unknown status) get no billing rows, so the billing
    file's only defects are the negative_revenue rows. With messy_rate=0 every row is
    valid. Existing files of the same name are replaced. Raises ValueError for bad
    arguments before writing anything.
    """
    _validate(
        size=size,
        cycles=cycles,
        last_cycle=last_cycle,
        file_format=file_format,
        messy_rate=messy_rate,
    )
    labels = cycle_labels(last_cycle=last_cycle, cycles=cycles)
    first_year, first_month = _parse_cycle(labels[0])
    tail_mul, tail_add = _tail_permutation(seed)
    params = _Params(
        size=size,
        cycle_labels=labels,
        first_cycle_index=first_year * 12 + first_month - 1,
        snapshot=snapshot_date(last_cycle),
        xlsx=file_format == "xlsx",
        messy_rate=messy_rate,
        seed=seed,
        tail_mul=tail_mul,
        tail_add=tail_add,
    )

    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    subscribers_path = out_dir / f"subscribers.{file_format}"
    billing_path = out_dir / f"billing.{file_format}"
    if params.xlsx:
        subscribers = _XlsxSink(subscribers_path, SUBSCRIBER_COLUMNS, "subscribers")
        billing = _XlsxSink(billing_path, BILLING_COLUMNS, "billing")
    else:
        subscribers = _CsvSink(subscribers_path, SUBSCRIBER_COLUMNS)
        billing = _CsvSink(billing_path, BILLING_COLUMNS)

    messy = dict.fromkeys(MESSY_KINDS, 0)
    subscriber_count = billing_count = 0
    next_report = PROGRESS_EVERY
    try:
        for chunk_no, start, count in _chunks(size):
            sub_rows, bill_rows, chunk_messy = _generate_chunk(
                params, chunk_no, start, count
            )
            if params.xlsx:
                subscribers.write_rows(sub_rows)
                billing.write_rows(bill_rows)
            else:
                subscribers.write_lines(sub_rows)
                billing.write_lines(bill_rows)
            subscriber_count += len(sub_rows)
            billing_count += len(bill_rows)
            for kind, n in chunk_messy.items():
                messy[kind] += n
            if progress is not None and subscriber_count >= next_report:
                progress(subscriber_count, size)
                next_report = (subscriber_count // PROGRESS_EVERY + 1) * PROGRESS_EVERY
    finally:
        subscribers.close()
        billing.close()
    if progress is not None and subscriber_count % PROGRESS_EVERY:
        progress(subscriber_count, size)

    return GeneratedSnapshot(
        subscribers_path=subscribers_path,
        billing_path=billing_path,
        subscriber_count=subscriber_count,
        billing_count=billing_count,
        cycles=labels,
        messy={kind: n for kind, n in messy.items() if n},
    )


def write_named_list(
    *,
    path: Path,
    msisdns: Iterable[str],
    attributes: dict[str, Callable[[str], object]] | None = None,
) -> int:
    """Write a named-list file (column msisdn plus attribute columns); return rows.

    Each attribute is a callable given the MSISDN and returning that row's value, e.g.
    {"called_on": lambda m: "2022-10-05"}. The format follows the suffix of `path`:
    .xlsx is written with openpyxl, anything else as UTF-8 CSV.
    """
    path = Path(path)
    attributes = attributes or {}
    names = list(attributes)
    getters = [attributes[name] for name in names]
    header = ["msisdn", *names]
    if path.suffix.lower() == ".xlsx":
        sink: _CsvSink | _XlsxSink = _XlsxSink(path, header, "list")
    else:
        sink = _CsvSink(path, header)
    written = 0
    batch: list[tuple] = []
    try:
        for msisdn in msisdns:
            batch.append((msisdn, *(get(msisdn) for get in getters)))
            if len(batch) >= CHUNK_SIZE:
                sink.write_rows(batch)
                written += len(batch)
                batch = []
        sink.write_rows(batch)
        written += len(batch)
    finally:
        sink.close()
    return written

"""The portal's roles as Django groups, with the permissions each one needs.

Group names are what staff see in the admin, so they are Vietnamese; code refers to the
constants. `sync_roles` is idempotent and runs after every migrate.
"""

from django.contrib.auth.models import Group, Permission
from django.db.models import Q

CARE_STAFF = "Nhân viên CSKH"
PARTNER = "Đối tác"
CALL_AGENT = "Điện thoại viên"
CALL_SUPERVISOR = "Giám sát tổng đài"
PROVINCE_STAFF = "Nhân viên MBF Tỉnh/Tp"
FIELD_STAFF = "Nhân viên thực địa"

# Care staff run programmes end to end, so they manage every model of the domain apps.
CARE_STAFF_APPS = [
    "campaigns",
    "eligibility",
    "gifts",
    "messaging",
    "callcenter",
    "fulfilment",
    "visits",
    "servicerequests",
]

# Other roles work in their own pages; in the admin they only read what they need.
ROLE_PERMISSIONS: dict[str, list[str]] = {
    PARTNER: [],
    CALL_AGENT: ["eligibility.view_subscriber", "callcenter.work_calls"],
    CALL_SUPERVISOR: [
        "eligibility.view_subscriber",
        "eligibility.view_namedlist",
        "fulfilment.view_dashboard",
        "callcenter.supervise_calls",
    ],
    PROVINCE_STAFF: ["eligibility.view_subscriber"],
    FIELD_STAFF: [],
}

ROLES = [CARE_STAFF, PARTNER, CALL_AGENT, CALL_SUPERVISOR, PROVINCE_STAFF, FIELD_STAFF]


def _permissions(codes: list[str]):
    query = Q(pk__in=[])
    for code in codes:
        app_label, codename = code.split(".")
        query |= Q(content_type__app_label=app_label, codename=codename)
    return Permission.objects.filter(query)


def sync_roles() -> None:
    care, _ = Group.objects.get_or_create(name=CARE_STAFF)
    care.permissions.set(
        Permission.objects.filter(content_type__app_label__in=CARE_STAFF_APPS)
    )
    for name, codes in ROLE_PERMISSIONS.items():
        group, _ = Group.objects.get_or_create(name=name)
        group.permissions.set(_permissions(codes))


def sync_roles_after_migrate(sender, **kwargs) -> None:
    sync_roles()

"""Partner pages and the dashboard through their URLs, with every scope boundary."""

import csv
import io

import pytest
from django.urls import reverse
from openpyxl import load_workbook

from campaigns import roles
from fulfilment import services
from fulfilment.models import Order, OrderStatus, ResultUpload
from tests.conftest import user_in_role
from tests.fulfilment.files import result_csv

pytestmark = pytest.mark.django_db


def today():
    return services.local_today().strftime("%d/%m/%Y")


def upload_file(client, programme, path):
    with open(path, "rb") as stream:
        return client.post(
            reverse("fulfilment:partner_upload", args=[programme["campaign"].code]),
            {"file": stream},
        )


@pytest.fixture
def alpha_client(client, programme):
    client.force_login(programme["alpha_user"])
    return client


def test_partner_home_lists_only_its_campaigns_with_counts(alpha_client, programme):
    response = alpha_client.get(reverse("fulfilment:partner_home"))
    assert response.status_code == 200
    assert programme["campaign"].name in response.text
    assert response.context["rows"][0]["total"] == 3


def test_orders_page_shows_only_own_orders(alpha_client, programme):
    url = reverse("fulfilment:partner_orders", args=[programme["campaign"].code])
    response = alpha_client.get(url)
    for code in programme["alpha_codes"]:
        assert code in response.text
    for code in programme["beta_codes"]:
        assert code not in response.text


def test_csv_download_is_own_orders_and_formula_safe(alpha_client, programme):
    Order.objects.filter(code=programme["alpha_codes"][0]).update(
        address='=HYPERLINK("http://evil")'
    )
    url = reverse("fulfilment:partner_orders_csv", args=[programme["campaign"].code])
    response = alpha_client.get(url)
    body = b"".join(response.streaming_content).decode("utf-8-sig")
    rows = list(csv.reader(io.StringIO(body)))
    codes = {row[0] for row in rows[1:]}
    assert codes == set(programme["alpha_codes"])
    assert any(row[3].startswith("'=HYPERLINK") for row in rows[1:])


def test_xlsx_download_is_own_orders_and_formula_safe(alpha_client, programme):
    Order.objects.filter(code=programme["alpha_codes"][0]).update(
        recipient_name="@SUM(A1)"
    )
    url = reverse("fulfilment:partner_orders_xlsx", args=[programme["campaign"].code])
    response = alpha_client.get(url)
    sheet = load_workbook(io.BytesIO(b"".join(response.streaming_content))).active
    rows = list(sheet.iter_rows(min_row=2, values_only=True))
    assert {row[0] for row in rows} == set(programme["alpha_codes"])
    assert "'@SUM(A1)" in {row[2] for row in rows}


def test_upload_review_apply_through_the_pages(alpha_client, programme, tmp_path):
    a, b, _c = programme["alpha_codes"]
    path = result_csv(
        tmp_path,
        [
            [a, "", "Đã giao", today(), ""],
            [b, "", "Thất bại", today(), ""],
            ["=cmd|' /C calc'!A0", "", "Đã giao", today(), ""],
        ],
    )
    response = upload_file(alpha_client, programme, path)
    upload = ResultUpload.objects.get()
    assert response.url == reverse("fulfilment:partner_upload_review", args=[upload.pk])
    page = alpha_client.get(response.url)
    assert "phải có lý do" in page.text and "không tồn tại" in page.text
    problems = alpha_client.get(
        reverse("fulfilment:partner_upload_problems", args=[upload.pk])
    )
    text = b"".join(problems.streaming_content).decode("utf-8-sig")
    assert "'=cmd" in text and "phải có lý do" in text
    alpha_client.post(
        reverse("fulfilment:partner_upload_decide", args=[upload.pk]),
        {"decision": "apply"},
    )
    assert Order.objects.get(code=a).status == OrderStatus.DELIVERED
    assert Order.objects.get(code=b).status == OrderStatus.PENDING


def test_unreadable_upload_shows_the_reason_and_writes_nothing(
    alpha_client, programme, tmp_path
):
    path = tmp_path / "bomb.xlsx"
    path.write_bytes(b"PK\x03\x04" + b"\x00" * 200)
    response = upload_file(alpha_client, programme, path)
    page = alpha_client.get(response.url)
    assert list(page.context["messages"])
    assert ResultUpload.objects.count() == 0


def test_partner_never_sees_or_changes_another_partners_things(
    client, programme, tmp_path
):
    """Beta tries every URL against Alpha's campaign-less view of data: all 404/403."""
    b = programme["beta_codes"][0]
    path = result_csv(tmp_path, [[b, "", "Đã giao", today(), ""]])
    client.force_login(programme["beta_user"])
    upload_file(client, programme, path)
    beta_upload = ResultUpload.objects.get()

    # A campaign Beta is not assigned to.
    from tests.fulfilment.factories import assign
    from tests.gifts.factories import OpenCampaignFactory

    other = OpenCampaignFactory(code="khac")
    assign(other, programme["alpha"])
    client.force_login(programme["alpha_user"])
    alpha_upload_url = reverse(
        "fulfilment:partner_upload_review", args=[beta_upload.pk]
    )
    client.force_login(programme["beta_user"])
    for name in [
        "partner_orders",
        "partner_orders_csv",
        "partner_orders_xlsx",
    ]:
        assert (
            client.get(reverse(f"fulfilment:{name}", args=["khac"])).status_code == 404
        )
    assert (
        client.post(reverse("fulfilment:partner_upload", args=["khac"])).status_code
        == 404
    )
    # Alpha cannot open, download or decide Beta's upload.
    client.force_login(programme["alpha_user"])
    assert client.get(alpha_upload_url).status_code == 404
    assert (
        client.get(
            reverse("fulfilment:partner_upload_problems", args=[beta_upload.pk])
        ).status_code
        == 404
    )
    decide = reverse("fulfilment:partner_upload_decide", args=[beta_upload.pk])
    assert client.post(decide, {"decision": "apply"}).status_code == 404
    assert Order.objects.get(code=b).status == OrderStatus.PENDING
    # Alpha uploading Beta's order code through its own campaign page: refused row.
    path = result_csv(tmp_path, [[b, "", "Đã giao", today(), ""]], name="x.csv")
    upload_file(client, programme, path)
    mine = ResultUpload.objects.filter(partner=programme["alpha"]).get()
    assert mine.good_rows == [] and "không thuộc danh sách đơn hàng của bạn" in str(
        mine.problems
    )
    client.post(
        reverse("fulfilment:partner_upload_decide", args=[mine.pk]),
        {"decision": "apply"},
    )
    assert Order.objects.get(code=b).status == OrderStatus.PENDING


@pytest.mark.parametrize("role", [roles.CARE_STAFF, roles.CALL_AGENT, None])
def test_partner_pages_refuse_non_partners(client, programme, role):
    if role:
        client.force_login(user_in_role("x", role))
    response = client.get(reverse("fulfilment:partner_home"))
    assert response.status_code == (403 if role else 302)


@pytest.mark.parametrize(
    ("role", "status"),
    [
        (roles.CARE_STAFF, 200),
        (roles.CALL_SUPERVISOR, 200),
        (roles.PARTNER, 403),
        (roles.CALL_AGENT, 403),
        (roles.PROVINCE_STAFF, 403),
    ],
)
def test_dashboard_is_for_care_staff_and_supervisors(client, programme, role, status):
    client.force_login(user_in_role("u", role))
    code = programme["campaign"].code
    for url in [
        reverse("fulfilment:dashboard_index"),
        reverse("fulfilment:dashboard", args=[code]),
        reverse("fulfilment:dashboard_xlsx", args=[code]),
    ]:
        assert client.get(url).status_code == status


def test_partner_user_of_a_partner_cannot_open_the_dashboard(alpha_client, programme):
    url = reverse("fulfilment:dashboard", args=[programme["campaign"].code])
    assert alpha_client.get(url).status_code == 403


def test_too_large_a_file_is_refused_with_its_size(
    alpha_client, programme, tmp_path, monkeypatch
):
    monkeypatch.setattr("fulfilment.forms.MAX_RESULT_FILE_BYTES", 100)
    path = result_csv(
        tmp_path, [[f"X{n}", "", "Đã giao", today(), ""] for n in range(20)]
    )
    response = upload_file(alpha_client, programme, path)
    page = alpha_client.get(response.url)
    assert "giới hạn là 100" in " ".join(str(m) for m in page.context["messages"])
    assert ResultUpload.objects.count() == 0

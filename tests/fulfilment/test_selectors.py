import io

import pytest
from django.urls import reverse
from django.utils import timezone
from openpyxl import load_workbook

from fulfilment import selectors, services
from gifts.models import Invitation
from tests.fulfilment.files import result_csv

pytestmark = pytest.mark.django_db


def test_dashboard_funnel_stock_breaches_and_breakdowns(programme, tmp_path):
    campaign = programme["campaign"]
    Invitation.objects.filter(campaign=campaign).update(last_login_at=timezone.now())
    a, b, _c = programme["alpha_codes"]
    today = services.local_today().strftime("%d/%m/%Y")
    path = result_csv(
        tmp_path,
        [[a, "", "Đã giao", today, ""], [b, "", "Thất bại", today, "Vắng nhà"]],
    )
    upload = services.result_upload_check(
        partner=programme["alpha"],
        campaign=campaign,
        path=path,
        original_name=path.name,
        actor=programme["alpha_user"],
    )
    services.result_upload_apply(upload=upload, actor=programme["alpha_user"])
    from messaging.models import Message

    Message.objects.filter(purpose="delivery_success").update(status="delivered")

    data = selectors.campaign_dashboard(campaign=campaign)
    funnel = {step["key"]: step["value"] for step in data.funnel}
    assert funnel["invited"] == 6
    assert funnel["logged_in"] == 6
    assert funnel["chose"] == 6
    assert funnel["delivered"] == 1
    assert funnel["notified"] == 1
    assert data.totals["failed"] == 1
    assert {row["key"] for row in data.breakdowns["province"]} == {"TP Hồ Chí Minh"}
    assert data.breakdowns["company"][0]["invited"] == 6
    assert {s["gift"] for s in data.stock} == {"Nồi cơm điện", "Ấm siêu tốc"}


def test_dashboard_page_and_every_table_exported(client, care_staff, programme):
    client.force_login(care_staff)
    code = programme["campaign"].code
    page = client.get(reverse("fulfilment:dashboard", args=[code]))
    assert page.status_code == 200
    assert 'data-step="chose"' in page.text
    response = client.get(reverse("fulfilment:dashboard_xlsx", args=[code]))
    workbook = load_workbook(io.BytesIO(b"".join(response.streaming_content)))
    assert len(workbook.sheetnames) == 6

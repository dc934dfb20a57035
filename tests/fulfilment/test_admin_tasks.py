from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from fulfilment import services, tasks
from fulfilment.models import Order, OrderStatus
from tests.fulfilment.factories import chosen
from tests.fulfilment.files import result_csv

pytestmark = pytest.mark.django_db


def test_admin_lists_overdue_orders_for_care_staff(client, care_staff, programme):
    late = programme["alpha_codes"][0]
    Order.objects.filter(code=late).update(deliver_by=timezone.now() - timedelta(1))
    client.force_login(care_staff)
    url = reverse("admin:fulfilment_order_changelist")
    response = client.get(url, {"sla": "overdue"})
    assert response.status_code == 200
    assert late in response.text
    assert programme["alpha_codes"][1] not in response.text
    for name in ["partner", "partnerassignment", "resultupload", "fulfilmentsettings"]:
        page = client.get(reverse(f"admin:fulfilment_{name}_changelist"))
        assert page.status_code == 200


def test_partner_has_no_admin_access_to_orders(client, programme):
    client.force_login(programme["alpha_user"])
    response = client.get(reverse("admin:fulfilment_order_changelist"))
    assert response.status_code == 403


def test_staff_records_a_call_back_from_the_admin(
    client, care_staff, programme, tmp_path
):
    code = programme["alpha_codes"][0]
    day = services.local_today().strftime("%d/%m/%Y")
    path = result_csv(tmp_path, [[code, "", "Thất bại", day, "Vắng nhà"]])
    upload = services.result_upload_check(
        partner=programme["alpha"],
        campaign=programme["campaign"],
        path=path,
        original_name=path.name,
        actor=programme["alpha_user"],
    )
    services.result_upload_apply(upload=upload, actor=programme["alpha_user"])
    client.force_login(care_staff)
    order = Order.objects.get(code=code)
    client.post(
        reverse("admin:fulfilment_order_changelist"),
        {"action": "customer_called_back", "_selected_action": [order.pk]},
    )
    order.refresh_from_db()
    assert order.status == OrderStatus.PENDING and order.replied_at is not None


def test_release_action_in_the_admin(client, care_staff, programme):
    chosen(programme["pot"])
    client.force_login(care_staff)
    assignment = programme["campaign"].partner_assignments.first()
    client.post(
        reverse("admin:fulfilment_partnerassignment_changelist"),
        {"action": "release_orders", "_selected_action": [assignment.pk]},
    )
    assert Order.objects.count() == 7


def test_periodic_tasks_release_and_decline(
    programme, tmp_path, django_capture_on_commit_callbacks
):
    code = programme["alpha_codes"][0]
    day = services.local_today().strftime("%d/%m/%Y")
    path = result_csv(tmp_path, [[code, "", "Thất bại", day, "Vắng nhà"]])
    upload = services.result_upload_check(
        partner=programme["alpha"],
        campaign=programme["campaign"],
        path=path,
        original_name=path.name,
        actor=programme["alpha_user"],
    )
    services.result_upload_apply(upload=upload, actor=programme["alpha_user"])
    Order.objects.filter(code=code).update(
        reply_by=services.local_today() - timedelta(1)
    )
    tasks.orders_decline_unanswered()
    assert Order.objects.get(code=code).status == OrderStatus.DECLINED
    chosen(programme["pot"])
    tasks.orders_release(programme["campaign"].pk)
    assert Order.objects.count() == 7

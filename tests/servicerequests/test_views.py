"""The pages through their URLs: the public form, and each role's scope boundary."""

import io

import pytest
from django.db.models import Count
from django.test import Client
from django.urls import reverse
from openpyxl import load_workbook

from servicerequests.models import ServiceRequest, Status
from tests.servicerequests.factories import CAN_THO

pytestmark = pytest.mark.django_db

FORM = reverse("servicerequests:form")


def _client(user=None, **kwargs):
    # Asserted by the English msgids; Django's own messages would come in Vietnamese.
    client = Client(HTTP_ACCEPT_LANGUAGE="en", **kwargs)
    if user is not None:
        client.force_login(user)
    return client


def _post_form(client, **data):
    payload = {
        "phone": "0901000001",
        "full_name": "Nguyễn Văn An",
        "address": "12 Nguyễn Trãi, Phong Điền, Cần Thơ",
        "preferred_time": "afternoon",
    }
    payload.update(data)
    return client.post(FORM, payload)


# --- Public form --------------------------------------------------------------------


def test_web_form_registers_the_request(campaign):
    response = _post_form(_client())
    assert response.status_code == 302
    assert response["Location"] == reverse("servicerequests:thanks")
    request = ServiceRequest.objects.get()
    assert request.source == "web"
    assert request.status == Status.NEW
    assert request.address == "12 Nguyễn Trãi, Phong Điền, Cần Thơ"
    assert request.preferred_time == "Afternoon (13:00–17:00)"


def test_web_form_answers_the_same_for_a_number_not_on_the_list(campaign):
    eligible = _client().post(FORM, follow=True, data=_data("0901000001"))
    outsider = _client().post(FORM, follow=True, data=_data("0988888888"))
    assert eligible.content == outsider.content
    assert ServiceRequest.objects.get(msisdn="84988888888").status == Status.INELIGIBLE


def _data(phone):
    return {
        "phone": phone,
        "full_name": "Khách hàng",
        "address": "12 Nguyễn Trãi, Phong Điền, Cần Thơ",
    }


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"phone": "12345"}, "Enter a MobiFone mobile number"),
        ({"phone": ""}, "This field is required"),
        ({"full_name": " "}, "This field is required"),
        ({"address": "Cần Thơ"}, "Enter the full address"),
    ],
)
def test_web_form_errors_name_the_problem_and_write_nothing(campaign, data, message):
    response = _post_form(_client(), **data)
    assert response.status_code == 400
    assert message in response.content.decode()
    assert not ServiceRequest.objects.exists()


def test_web_form_needs_the_csrf_token(campaign):
    response = _post_form(_client(enforce_csrf_checks=True))
    assert response.status_code == 403
    assert not ServiceRequest.objects.exists()


def test_web_form_is_rate_limited_per_address(campaign, settings):
    settings.SERVICEREQUESTS_FORM_PER_HOUR = 2
    client = _client()
    assert _post_form(client, phone="0901000001").status_code == 302
    assert _post_form(client, phone="0901000002").status_code == 302
    response = _post_form(client, phone="0901000006")
    assert response.status_code == 429
    assert "Too many requests" in response.content.decode()
    assert ServiceRequest.objects.count() == 2


def test_web_form_says_when_no_programme_runs(db):
    response = _client().get(FORM)
    assert response.status_code == 404
    assert "not taking requests" in response.content.decode()


# --- Roles and scope ----------------------------------------------------------------


STAFF_URLS = [
    ("servicerequests:agent_queue", None),
    ("servicerequests:province", None),
    ("servicerequests:province_export", None),
    ("servicerequests:reconciliation", None),
    ("servicerequests:field_list", None),
    ("servicerequests:ivr", None),
]


@pytest.mark.parametrize("name", [name for name, _ in STAFF_URLS])
def test_staff_pages_send_anonymous_visitors_to_login(campaign, name):
    response = _client().get(reverse(name))
    assert response.status_code == 302
    assert "/admin/login/" in response["Location"]


def test_each_role_reaches_only_its_own_pages(
    campaign, agent, can_tho_staff, field_a, care_staff
):
    allowed = {
        agent: {"servicerequests:agent_queue"},
        can_tho_staff: {
            "servicerequests:province",
            "servicerequests:province_export",
            "servicerequests:reconciliation",
        },
        field_a: {"servicerequests:field_list"},
        care_staff: {"servicerequests:ivr"},
    }
    for user, names in allowed.items():
        client = _client(user)
        for name, _ in STAFF_URLS:
            status = client.get(reverse(name)).status_code
            expected = 200 if name in names else 403
            assert status == expected, (user.username, name, status)


def test_agent_sees_and_calls_only_requests_in_their_own_queue(
    flow, agent, other_agent
):
    from servicerequests import services

    mine = flow.register("84901000001")
    services.requests_claim(agent=agent, limit=1)
    theirs = flow.register("84901000002")
    services.requests_claim(agent=other_agent, limit=1)
    client = _client(agent)
    page = client.get(reverse("servicerequests:agent_queue")).content.decode()
    assert "0901000001" in page and "0901000002" not in page
    url_theirs = reverse("servicerequests:agent_call", args=[theirs.pk])
    assert client.get(url_theirs).status_code == 404
    assert client.post(url_theirs, {"outcome": "confirmed"}).status_code == 404
    theirs.refresh_from_db()
    assert theirs.status == Status.NEW
    response = client.post(
        reverse("servicerequests:agent_call", args=[mine.pk]), {"outcome": "confirmed"}
    )
    assert response.status_code == 302
    mine.refresh_from_db()
    assert mine.status == Status.CONFIRMED


def test_call_form_errors_name_the_missing_field(flow, agent):
    from servicerequests import services

    request = flow.register("84901000001")
    services.requests_claim(agent=agent)
    url = reverse("servicerequests:agent_call", args=[request.pk])
    response = _client(agent).post(url, {"outcome": "corrected"})
    assert response.status_code == 400
    assert "Enter the corrected address." in response.content.decode()
    response = _client(agent).post(url, {"outcome": "cancelled"})
    assert "Say why the customer cancelled." in response.content.decode()
    request.refresh_from_db()
    assert request.status == Status.NEW


def test_claim_button_fills_the_agents_list(flow, agent):
    flow.register("84901000001")
    client = _client(agent)
    response = client.post(reverse("servicerequests:agent_claim"), follow=True)
    assert "1 requests added to your list." in response.content.decode()
    assert ServiceRequest.objects.get().agent == agent


def test_province_staff_see_and_touch_only_their_province(
    flow, can_tho_staff, vinh_long_staff, field_a, field_vl
):
    can_tho = flow.confirmed("84901000001")
    vinh_long = flow.confirmed("84901000005")
    ct = _client(can_tho_staff)
    vl = _client(vinh_long_staff)
    page = ct.get(reverse("servicerequests:province")).content.decode()
    assert "0901000001" in page and "0901000005" not in page
    # Detail, take-back and allocation of another province's request.
    assert (
        vl.get(
            reverse("servicerequests:province_request", args=[can_tho.pk])
        ).status_code
        == 404
    )
    assert (
        vl.post(
            reverse("servicerequests:province_unallocate", args=[can_tho.pk])
        ).status_code
        == 404
    )
    response = vl.post(
        reverse("servicerequests:province_allocate"),
        {"requests": [can_tho.pk], "field_staff": field_vl.pk},
    )
    assert response.status_code == 400
    can_tho.refresh_from_db()
    assert can_tho.status == Status.CONFIRMED
    # Nor may they hand their own requests to another province's field staff.
    response = vl.post(
        reverse("servicerequests:province_allocate"),
        {"requests": [vinh_long.pk], "field_staff": field_a.pk},
    )
    assert response.status_code == 400
    vinh_long.refresh_from_db()
    assert vinh_long.status == Status.CONFIRMED
    # The export holds only the province's own rows.
    workbook = load_workbook(
        io.BytesIO(vl.get(reverse("servicerequests:province_export")).content)
    )
    numbers = [row[0] for row in workbook.active.iter_rows(min_row=2, values_only=True)]
    assert numbers == ["0901000005"]


def test_province_allocates_ticked_requests_in_bulk(flow, can_tho_staff, field_a):
    one = flow.confirmed("84901000001")
    two = flow.confirmed("84901000002")
    response = _client(can_tho_staff).post(
        reverse("servicerequests:province_allocate"),
        {"requests": [one.pk, two.pk], "field_staff": field_a.pk},
        follow=True,
    )
    assert "2 requests allocated: td-a 2." in response.content.decode()
    assert set(ServiceRequest.objects.values_list("status", flat=True)) == {
        Status.ALLOCATED
    }


def test_province_shares_requests_evenly_among_field_staff_by_district(
    flow, can_tho_staff, field_a, field_b
):
    ids = [
        flow.confirmed(number).pk
        for number in ["84901000001", "84901000002", "84901000006"]
    ]
    response = _client(can_tho_staff).post(
        reverse("servicerequests:province_allocate"),
        {"requests": ids, "field_staff": [field_a.pk, field_b.pk]},
        follow=True,
    )
    assert "3 requests allocated: td-a 2, td-b 1." in response.content.decode()
    shares = dict(
        ServiceRequest.objects.values_list("field_staff__username")
        .annotate(n=Count("id"))
        .values_list("field_staff__username", "n")
    )
    assert shares == {"td-a": 2, "td-b": 1}


def test_allocation_without_a_ticked_request_says_so(flow, can_tho_staff, field_a):
    flow.confirmed("84901000001")
    response = _client(can_tho_staff).post(
        reverse("servicerequests:province_allocate"), {"field_staff": field_a.pk}
    )
    assert response.status_code == 400
    assert "Tick at least one confirmed request." in response.content.decode()


def test_export_neutralises_formulas(flow, can_tho_staff):
    flow.confirmed("84901000001", address='=HYPERLINK("http://x")')
    workbook = load_workbook(
        io.BytesIO(
            _client(can_tho_staff)
            .get(reverse("servicerequests:province_export"))
            .content
        )
    )
    rows = list(workbook.active.iter_rows(values_only=True))
    assert rows[0][0] == "Number"
    assert rows[1][2] == '\'=HYPERLINK("http://x")'


def test_field_staff_see_and_record_only_their_own_allocations(flow, field_a, field_b):
    mine = flow.allocated("84901000001", field_a)
    theirs = flow.allocated("84901000002", field_b)
    client = _client(field_a)
    page = client.get(reverse("servicerequests:field_list")).content.decode()
    assert "0901000001" in page and "0901000002" not in page
    url_theirs = reverse("servicerequests:field_visit", args=[theirs.pk])
    assert client.get(url_theirs).status_code == 404
    assert client.post(url_theirs, {"app_installed": "on"}).status_code == 404
    response = client.post(
        reverse("servicerequests:field_visit", args=[mine.pk]),
        {"sim_swapped": "on", "new_sim_serial": ""},
    )
    assert response.status_code == 400
    assert "Enter the serial printed on the new SIM." in response.content.decode()
    response = client.post(
        reverse("servicerequests:field_visit", args=[mine.pk]),
        {
            "sim_swapped": "on",
            "new_sim_serial": "8984012345678901234",
            "app_installed": "on",
        },
    )
    assert response.status_code == 302
    mine.refresh_from_db()
    assert mine.status == Status.COMPLETED and mine.field_staff == field_a
    theirs.refresh_from_db()
    assert theirs.status == Status.ALLOCATED


def test_agent_and_field_staff_cannot_reach_province_actions(flow, agent, field_a):
    request = flow.confirmed("84901000001")
    for user in (agent, field_a):
        client = _client(user)
        assert (
            client.get(
                reverse("servicerequests:province_request", args=[request.pk])
            ).status_code
            == 403
        )
        assert (
            client.post(
                reverse("servicerequests:province_allocate"),
                {"requests": [request.pk], "field_staff": field_a.pk},
            ).status_code
            == 403
        )
    request.refresh_from_db()
    assert request.status == Status.CONFIRMED


def test_province_staff_without_a_province_are_refused(db, campaign):
    from campaigns import roles
    from tests.conftest import user_in_role

    user = user_in_role("tinh-none", roles.PROVINCE_STAFF)
    assert _client(user).get(reverse("servicerequests:province")).status_code == 403


def test_reconciliation_page_and_export_show_the_figures(
    flow, can_tho_staff, vinh_long_staff, field_a, field_b
):
    flow.visited("84901000001", field_a, "8984010000000000001", app=True)
    flow.visited("84901000002", field_b, "8984010000000000002", app=False)
    page = _client(can_tho_staff).get(reverse("servicerequests:reconciliation"))
    html = page.content.decode()
    assert 'id="total-swaps">2<' in html and 'id="total-installs">1<' in html
    assert "Tây Đô" in html and "Mê Kông" in html
    other = _client(vinh_long_staff).get(reverse("servicerequests:reconciliation"))
    assert "Tây Đô" not in other.content.decode()
    export = _client(can_tho_staff).get(
        reverse("servicerequests:reconciliation"), {"format": "xlsx"}
    )
    rows = list(
        load_workbook(io.BytesIO(export.content)).active.iter_rows(values_only=True)
    )
    assert rows[1:] == [
        ("Mê Kông", "td-b", 1, 1, 0, 0, 0),
        ("Tây Đô", "td-a", 1, 1, 1, 0, 0),
    ]


def test_ivr_upload_page_imports_and_reports_bad_rows(
    campaign, care_staff, django_capture_on_commit_callbacks
):
    from django.core.files.uploadedfile import SimpleUploadedFile

    from servicerequests import services

    client = _client(care_staff)
    bad = SimpleUploadedFile("kq.csv", b"msisdn,key\n0901000001,1\nabc,1\n")
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        response = client.post(
            reverse("servicerequests:ivr"), {"campaign": campaign.pk, "file": bad}
        )
    assert response.status_code == 302
    assert len(callbacks) == 1
    record_url = response["Location"]
    queued = client.get(record_url)
    assert 'http-equiv="refresh"' in queued.content.decode()
    record_id = int(record_url.rstrip("/").split("/")[-1])
    services.ivr_import_run(import_id=record_id)  # what the task does
    response = client.get(record_url)
    assert response.status_code == 400
    assert "Row 3" in response.content.decode()
    assert not ServiceRequest.objects.exists()
    good = SimpleUploadedFile("kq.csv", b"msisdn,key\n0901000001,1\n")
    # No eager Celery: the test does what the task would, without a broker.
    with django_capture_on_commit_callbacks(execute=False):
        response = client.post(
            reverse("servicerequests:ivr"), {"campaign": campaign.pk, "file": good}
        )
    services.ivr_import_run(
        import_id=int(response["Location"].rstrip("/").split("/")[-1])
    )
    page = client.get(response["Location"])
    assert page.status_code == 200
    assert "1 new requests" in page.content.decode()
    assert ServiceRequest.objects.get().source == "ivr"


def test_ivr_upload_without_a_file_names_the_field(campaign, care_staff):
    response = _client(care_staff).post(
        reverse("servicerequests:ivr"), {"campaign": campaign.pk}
    )
    assert response.status_code == 400
    assert "This field is required" in response.content.decode()


def test_province_page_flags_overdue_requests(flow, can_tho_staff):
    from datetime import timedelta

    from django.utils import timezone

    flow.confirmed("84901000001", registered_at=timezone.now() - timedelta(days=11))
    flow.confirmed("84901000002")
    html = _client(can_tho_staff).get(reverse("servicerequests:province")).content
    assert html.decode().count('class="overdue"') == 1
    assert CAN_THO in html.decode()


def test_agent_list_flags_calls_past_the_next_day(flow, agent):
    from datetime import timedelta

    from django.utils import timezone

    from servicerequests import services

    late = flow.register(
        "84901000001", registered_at=timezone.now() - timedelta(days=2)
    )
    flow.register("84901000002")
    services.requests_claim(agent=agent)
    html = _client(agent).get(reverse("servicerequests:agent_queue")).content.decode()
    assert html.count('class="overdue"') == 1
    assert f'data-request="{late.pk}" class="is-overdue"' in html


@pytest.mark.parametrize(
    "model", ["servicerequest", "ivrscript", "staffscope", "allocation", "ivrimport"]
)
def test_admin_pages_open_for_care_staff(flow, care_staff, model):
    request = flow.register("84901000001")
    client = _client(care_staff)
    assert (
        client.get(reverse(f"admin:servicerequests_{model}_changelist")).status_code
        == 200
    )
    if model == "servicerequest":
        url = reverse("admin:servicerequests_servicerequest_change", args=[request.pk])
        page = client.get(url)
        assert page.status_code == 200
        assert "registered" in page.content.decode()

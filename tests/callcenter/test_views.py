"""Every URL of the console and the supervisors' page, tried across each boundary."""

from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from callcenter import services
from callcenter.models import Call, CallRequest, CallTask
from campaigns import roles
from tests.callcenter.factories import agent, call_campaign, supervisor, tasks_of
from tests.conftest import user_in_role

pytestmark = pytest.mark.django_db


@pytest.fixture
def world():
    campaign = call_campaign(size=4)
    an, binh = agent("an"), agent("binh")
    services.tasks_assign(campaign=campaign, agent=an, count=2)
    services.tasks_assign(campaign=campaign, agent=binh, count=1)
    t1, t2, t3, pool = tasks_of(campaign)
    return {
        "campaign": campaign,
        "an": an,
        "binh": binh,
        "mine": t1,
        "theirs": t3,
        "pool": pool,
    }


def task_urls(task):
    return [
        ("get", reverse("callcenter:customer", args=[task.pk])),
        ("post", reverse("callcenter:request", args=[task.pk])),
        ("post", reverse("callcenter:gift", args=[task.pk])),
        ("post", reverse("callcenter:end", args=[task.pk])),
    ]


def test_anonymous_visitors_are_sent_to_log_in(client, world):
    urls = [
        ("get", reverse("callcenter:queue")),
        ("post", reverse("callcenter:next")),
        ("get", reverse("callcenter:supervise")),
        *task_urls(world["mine"]),
    ]
    for method, url in urls:
        response = getattr(client, method)(url)
        assert response.status_code == 302, url
        assert "/admin/login/" in response["Location"]


def test_users_without_a_call_role_are_refused_everywhere(client, world):
    client.force_login(user_in_role("doitac", roles.PARTNER))
    urls = [
        ("get", reverse("callcenter:queue")),
        ("post", reverse("callcenter:next")),
        ("get", reverse("callcenter:supervise")),
        *task_urls(world["mine"]),
    ]
    for method, url in urls:
        assert getattr(client, method)(url).status_code == 403, url


def test_an_agent_sees_only_their_own_queue(client, world):
    client.force_login(world["an"])
    page = client.get(reverse("callcenter:queue")).content.decode()
    assert world["mine"].msisdn in page
    assert world["theirs"].msisdn not in page
    assert world["pool"].msisdn not in page


@pytest.mark.parametrize("whose", ["theirs", "pool"])
def test_an_agent_cannot_open_or_change_another_queues_customer(client, world, whose):
    client.force_login(world["an"])
    task = world[whose]
    for method, url in task_urls(task):
        data = {"kind": "app", "revision": task.revision, "disposition": "done"}
        response = (
            getattr(client, method)(url, data) if method == "post" else client.get(url)
        )
        assert response.status_code == 404, url
    assert not CallRequest.objects.exists() and not Call.objects.exists()


def test_agents_cannot_supervise(client, world):
    client.force_login(world["an"])
    assert client.get(reverse("callcenter:supervise")).status_code == 403
    response = client.post(
        reverse("callcenter:supervise"),
        {
            "campaign": world["campaign"].pk,
            "action": "assign",
            "agent": world["an"].pk,
            "count": 1,
        },
    )
    assert response.status_code == 403
    assert CallTask.objects.filter(agent__isnull=True).count() == 1


def test_a_supervisor_reads_any_customer_but_does_not_call(client, world):
    client.force_login(supervisor())
    task = world["theirs"]
    page = client.get(reverse("callcenter:customer", args=[task.pk]))
    assert page.status_code == 200
    assert "chỉ được xem" in page.content.decode()
    response = client.post(
        reverse("callcenter:end", args=[task.pk]),
        {"revision": task.revision, "disposition": "done"},
    )
    assert response.status_code == 403


def test_a_supervisor_assigns_and_moves_work_and_sees_progress(client, world):
    boss = supervisor()
    client.force_login(boss)
    url = reverse("callcenter:supervise")
    campaign = world["campaign"]
    client.post(
        url,
        {
            "campaign": campaign.pk,
            "action": "assign",
            "agent": world["binh"].pk,
            "count": 5,
        },
    )
    assert CallTask.objects.filter(agent=world["binh"]).count() == 2
    client.post(
        url,
        {
            "campaign": campaign.pk,
            "action": "move",
            "from_agent": world["an"].pk,
            "to_agent": world["binh"].pk,
        },
    )
    assert CallTask.objects.filter(agent=world["binh"]).count() == 4
    page = client.get(url, {"campaign": campaign.pk}).content.decode()
    assert 'data-agent="binh"' in page


def test_the_console_shows_the_script_filled_with_the_customers_data(client, world):
    client.force_login(world["an"])
    page = client.get(reverse("callcenter:customer", args=[world["mine"].pk]))
    html = page.content.decode()
    assert "Khách hàng 1" in html and "1.250" in html and "[Tên KH]" not in html
    assert 'id="step-B6"' in html


def test_ending_a_call_with_a_bad_form_names_the_problem(client, world):
    client.force_login(world["an"])
    task = world["mine"]
    response = client.post(
        reverse("callcenter:end", args=[task.pk]),
        {
            "revision": task.revision,
            "started_at": timezone.now().isoformat(),
            "disposition": "not_interested",
            "reason": "",
        },
    )
    assert response.status_code == 400
    assert "Hãy hỏi lý do và ghi lại." in response.content.decode()
    assert not Call.objects.exists()


def test_next_customer_opens_the_console_and_ending_returns_to_the_queue(client, world):
    client.force_login(world["an"])
    response = client.post(
        reverse("callcenter:next"), {"campaign": world["campaign"].pk}
    )
    task = world["mine"]
    assert response["Location"] == reverse("callcenter:customer", args=[task.pk])
    callback = timezone.localtime(timezone.now() + timedelta(hours=1)).strftime(
        "%d/%m/%Y %H:%M"
    )
    response = client.post(
        reverse("callcenter:end", args=[task.pk]),
        {
            "revision": task.revision,
            "started_at": timezone.now().isoformat(),
            "disposition": "busy",
            "callback_at": callback,
        },
    )
    assert response.status_code == 302
    task.refresh_from_db()
    assert task.status == "callback"


def test_the_admin_refuses_a_step_with_an_unknown_placeholder(client, world):
    from callcenter.models import ScriptStep
    from tests.factories import UserFactory

    client.force_login(UserFactory(username="root", is_staff=True, is_superuser=True))
    response = client.post(
        reverse("admin:callcenter_scriptstep_add"),
        {
            "script": world["campaign"].call_script.pk,
            "code": "B7",
            "title": "Thử",
            "text": "Chào [Tên KH], số dư của mình là [Số dư]",
            "position": 7,
            "qualifier": "always",
            "branches-TOTAL_FORMS": 0,
            "branches-INITIAL_FORMS": 0,
        },
    )
    assert response.status_code == 200
    assert "[Số dư]" in response.content.decode()
    assert not ScriptStep.objects.filter(code="B7").exists()


def test_supervisors_see_complaints_due_and_calls_below_the_rule(client, world):
    an, task = world["an"], world["mine"]
    services.request_add(
        task=task,
        agent=an,
        kind="complaint",
        details={"text": "Sóng yếu"},
        now=timezone.now() - timedelta(hours=50),
    )
    task.refresh_from_db()
    services.call_end(
        task=task,
        agent=an,
        revision=task.revision,
        end=services.CallEnd(
            disposition="done", started_at=timezone.now(), topics=["B5"]
        ),
    )
    client.force_login(supervisor())
    page = client.get(
        reverse("callcenter:supervise"), {"campaign": world["campaign"].pk}
    ).content.decode()
    assert '<b id="rule-missed">1</b>' in page
    assert '<b id="complaints-overdue">1</b>' in page

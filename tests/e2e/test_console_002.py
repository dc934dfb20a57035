"""An agent works programme 002's calls in a real browser: a callback scheduled and
returned, a customer not interested with the reason, a gift chosen for points with the
insurance details, and a package offered; with screenshots of each step."""

from datetime import timedelta

import pytest
from django.utils import timezone
from playwright.sync_api import expect

from callcenter import services
from callcenter.models import Call, CallRequest, CallTask
from gifts.models import Choice, GiftKind, GiftStock
from tests.callcenter.factories import (
    InvitationFactory,
    agent,
    call_campaign,
    gift_with_stock,
    tasks_of,
)

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]


def log_in(page, url, username):
    page.goto(f"{url}/admin/login/?next=/tong-dai/")
    page.fill("#id_username", username)
    page.fill("#id_password", "pass-1234")
    page.click("input[type=submit]")


def test_agent_works_002_calls_through_the_branches(
    live_server, desktop_page, screenshot
):
    campaign = call_campaign(size=3)
    insurance = gift_with_stock(
        campaign,
        code="qua-a-bao-hiem-xe",
        name="Quà A: bảo hiểm xe máy",
        kind=GiftKind.INSURANCE,
        units=5,
        extra_details=["vehicle_registration", "vehicle_owner"],
    )
    gift_with_stock(campaign, code="qua-b", name="Quà B: bình giữ nhiệt", units=5)
    dtv = agent("dtv")
    services.tasks_assign(campaign=campaign, agent=dtv, count=3)
    first, second, _third = tasks_of(campaign)
    InvitationFactory(member=first.member)
    page = desktop_page
    log_in(page, live_server.url, "dtv")

    # The queue, by priority.
    expect(page.locator("#queue tbody tr")).to_have_count(3)
    expect(page.locator("#queue tbody tr").first).to_contain_text("Khách hàng 1")
    screenshot(page, "1-queue")

    # Customer 1 is busy: a callback is agreed for later today.
    page.click("#next")
    expect(page.locator("#customer-name")).to_contain_text("Khách hàng 1")
    expect(page.locator("#step-B2 .say")).to_contain_text("1.250 điểm")
    expect(page.locator("#topics li.qualified")).to_have_count(4)
    screenshot(page, "2-console")
    page.locator("#step-B1 .branch", has_text="KH bận").click()
    expect(page.locator("#id_disposition")).to_have_value("busy")
    expect(page.locator("#id_callback_at")).to_be_visible()
    later = timezone.localtime(timezone.now() + timedelta(hours=2))
    page.fill("#id_callback_at", later.strftime("%Y-%m-%dT%H:%M"))
    screenshot(page, "3-busy-callback")
    page.click("#end-call")
    expect(page.locator("#messages li.success")).to_be_visible()
    first.refresh_from_db()
    assert first.status == "callback" and first.agent == dtv

    # Customer 2, next by priority: not interested, and why.
    page.click("#next")
    expect(page.locator("#customer-name")).to_contain_text("Khách hàng 2")
    page.locator("#step-B1").focus()
    page.keyboard.press("4")  # the fourth branch of B1: not interested
    expect(page.locator("#id_disposition")).to_have_value("not_interested")
    expect(page.locator("#id_reason")).to_be_focused()
    page.fill("#id_reason", "Đã có gói cước khác")
    screenshot(page, "4-not-interested")
    page.click("#end-call")
    expect(page.locator("#messages li.success")).to_be_visible()

    # The callback time comes: customer 1 is first in the queue again.
    CallTask.objects.filter(pk=first.pk).update(
        callback_at=timezone.now() - timedelta(minutes=1),
        available_at=timezone.now() - timedelta(minutes=1),
    )
    page.goto(f"{live_server.url}/tong-dai/?campaign={campaign.pk}")
    expect(page.locator("#queue tbody tr").first).to_have_class("callback")
    expect(page.locator("#callbacks-due")).to_have_text("1")
    screenshot(page, "5-callback-due")
    page.click("#next")
    expect(page.locator("#customer-name")).to_contain_text("Khách hàng 1")

    # B1 agrees -> B2: the insurance gift, with the vehicle registration.
    page.locator("#step-B1 .branch", has_text="Đúng KH, đồng ý").click()
    expect(page.locator("#step-B2")).to_have_class("step current")
    page.check(f"input[name=gift][value='{insurance.pk}']")
    page.fill("#id_detail_vehicle_registration", "65B1-123.45")
    page.fill("#id_detail_vehicle_owner", "Khách hàng 1")
    screenshot(page, "6-gift")
    page.click("#gift-save")
    expect(page.locator("#choice")).to_contain_text("bảo hiểm xe máy")

    # B3: the package offered and taken, balance short: the offer goes by SMS.
    page.click("#req-package summary")
    page.select_option("#req-package select[name=enough_balance]", "no")
    page.click("#req-package button")
    expect(page.locator("#recorded li[data-kind=package]")).to_contain_text("F90")

    # Topics advised, then the call ends as done with the rule met.
    page.check("input[name=topics][value=B2]")
    page.check("input[name=topics][value=B3]")
    expect(page.locator("#rule")).to_have_class("rule met")
    page.select_option("#id_disposition", "done")
    screenshot(page, "7-end")
    page.click("#end-call")
    expect(page.locator("#messages li.success")).to_be_visible()
    screenshot(page, "8-queue-after")

    first.refresh_from_db()
    assert first.status == "done"
    call = Call.objects.filter(task=first).order_by("-id").first()
    assert call.rule_met and call.topics == ["B2", "B3"]
    choice = Choice.objects.get(invitation__msisdn=first.msisdn)
    assert choice.chosen_by_agent == dtv
    assert choice.details["vehicle_registration"] == "65B1-123.45"
    assert GiftStock.objects.get(gift=insurance).remaining == 4
    assert CallRequest.objects.get(task=first, kind="package").details == {
        "package": "F90",
        "enough_balance": "no",
    }
    second.refresh_from_db()
    assert second.status == "closed"
    assert Call.objects.get(task=second).reason == "Đã có gói cước khác"


def test_supervisor_assigns_the_pool_and_moves_work_between_agents(
    live_server, desktop_page, screenshot
):
    from tests.callcenter.factories import supervisor

    campaign = call_campaign(size=6)
    an, binh = agent("an"), agent("binh")
    supervisor("giamsat")
    page = desktop_page
    page.goto(f"{live_server.url}/admin/login/?next=/tong-dai/giam-sat/")
    page.fill("#id_username", "giamsat")
    page.fill("#id_password", "pass-1234")
    page.click("input[type=submit]")

    expect(page.locator("#progress tbody tr")).to_have_count(1)  # the pool
    page.select_option("#assign-form select[name=agent]", str(an.pk))
    page.fill("#assign-form input[name=count]", "4")
    page.click("#assign")
    expect(page.locator("#progress tr[data-agent=an] td").nth(1)).to_have_text("4")
    page.select_option("#move-form select[name=from_agent]", str(an.pk))
    page.select_option("#move-form select[name=to_agent]", str(binh.pk))
    page.fill("#move-form input[name=count]", "1")
    page.click("#move")
    expect(page.locator("#progress tr[data-agent=binh] td").nth(1)).to_have_text("1")
    screenshot(page, "supervision")
    assert CallTask.objects.filter(campaign=campaign, agent=an).count() == 3
    assert CallTask.objects.get(campaign=campaign, agent=binh).rank == 4

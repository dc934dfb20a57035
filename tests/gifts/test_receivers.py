"""Approving a list invites its members when the campaign offers gifts online."""

import pytest

from campaigns import services as campaign_services
from campaigns.models import Campaign, SelectionRun
from gifts.models import Invitation
from tests.factories import UserFactory
from tests.gifts.factories import (
    GiftSettingsFactory,
    SelectionMemberFactory,
    SelectionRunFactory,
    gift_with_stock,
)

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("tasks_in_process")]


@pytest.fixture
def tasks_in_process():
    """The invitation task runs in the test, as on the embedded default, not in Redis."""
    from config.celery import app

    app.conf.task_always_eager = True
    yield
    app.conf.task_always_eager = False


def committed_run(*, invite_on_approval: bool, with_gift: bool = True):
    run = SelectionRunFactory(
        status=SelectionRun.Status.COMMITTED,
        campaign__status=Campaign.Status.SELECTED,
    )
    SelectionMemberFactory.create_batch(3, run=run)
    SelectionMemberFactory(run=run, selected=False)
    GiftSettingsFactory(campaign=run.campaign, invite_on_approval=invite_on_approval)
    if with_gift:
        gift_with_stock(run.campaign)
    return run


def test_approving_invites_the_selected_members_and_opens_the_campaign(
    sms, django_capture_on_commit_callbacks
):
    run = committed_run(invite_on_approval=True)
    staff = UserFactory(username="truongphong")

    with django_capture_on_commit_callbacks(execute=True):
        campaign_services.selection_run_approve(run=run, actor=staff)

    invited = Invitation.objects.filter(run=run)
    assert invited.count() == 3
    assert len(sms) == 3
    run.campaign.refresh_from_db()
    assert run.campaign.status == Campaign.Status.OPEN
    moves = list(
        run.campaign.events.filter(kind="status_changed").values_list(
            "actor__username", flat=True
        )
    )
    assert moves and set(moves) == {"truongphong"}


def test_a_rolled_back_approval_invites_nobody(sms, django_capture_on_commit_callbacks):
    run = committed_run(invite_on_approval=True)

    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        campaign_services.selection_run_approve(run=run)
    # The approval's transaction never commits: its callbacks are dropped.

    assert Invitation.objects.filter(run=run).count() == 0
    assert len(callbacks) == 1


def test_campaigns_that_hand_gifts_over_offline_are_not_invited(
    sms, django_capture_on_commit_callbacks
):
    offline = committed_run(invite_on_approval=False)
    no_gifts = committed_run(invite_on_approval=True, with_gift=False)

    with django_capture_on_commit_callbacks(execute=True):
        campaign_services.selection_run_approve(run=offline)
        campaign_services.selection_run_approve(run=no_gifts)

    assert Invitation.objects.count() == 0
    assert sms == []
    offline.campaign.refresh_from_db()
    assert offline.campaign.status == Campaign.Status.APPROVED

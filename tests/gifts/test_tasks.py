"""The sweep through a real Celery worker on the real broker."""

import time
from datetime import timedelta

import pytest
from django.utils import timezone

from gifts import tasks
from gifts.models import Invitation
from tests.gifts.factories import OpenCampaignFactory, invitation_in

pytestmark = pytest.mark.django_db(transaction=True)


def test_the_periodic_sweep_settles_invitations_past_their_deadline(
    celery_worker_thread,
):
    campaign = OpenCampaignFactory()
    overdue = invitation_in(campaign)
    Invitation.objects.filter(pk=overdue.pk).update(
        deadline=timezone.now() - timedelta(minutes=1)
    )
    waiting = invitation_in(campaign)

    tasks.invitations_close_due_all.delay()

    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        overdue.refresh_from_db()
        if overdue.status != Invitation.Status.ISSUED:
            break
        time.sleep(0.2)
    assert overdue.status == Invitation.Status.EXPIRED
    waiting.refresh_from_db()
    assert waiting.status == Invitation.Status.ISSUED

"""What the gift part of the product does when other parts change state."""

from __future__ import annotations

from django.db import transaction

from gifts.models import Gift, GiftSettings


def invitations_send_on_approval(*, run, actor=None, **kwargs) -> None:
    """An approved list of a campaign that offers gifts online is invited at once.

    The invitations are written by a task after the approval commits, so a rolled back
    approval invites nobody and the approving request does not wait for thousands of
    password hashes and SMS rows.
    """
    settings = GiftSettings.objects.filter(campaign=run.campaign_id).first()
    if settings is None or not settings.invite_on_approval:
        return
    if not Gift.objects.filter(campaign=run.campaign_id, active=True).exists():
        return
    from gifts.tasks import invitations_issue

    actor_id = actor.pk if actor is not None else None
    transaction.on_commit(lambda: invitations_issue.delay(run.pk, actor_id))

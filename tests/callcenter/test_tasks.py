from datetime import timedelta

import pytest
from django.utils import timezone

from callcenter import services, tasks
from callcenter.models import CallTask, TaskStatus
from tests.callcenter.factories import agent, call_campaign, tasks_of

pytestmark = pytest.mark.django_db


def test_beat_wakes_the_callback_sweep_every_minute():
    from config.celery import app

    entry = app.conf.beat_schedule["callcenter-callbacks-sweep"]
    assert entry == {"task": "callcenter.callbacks_sweep", "schedule": 60.0}
    assert "callcenter.callbacks_sweep" in app.tasks


def test_the_sweep_task_escalates_and_a_second_run_finds_nothing():
    campaign = call_campaign(size=1)
    an = agent("an")
    services.tasks_assign(campaign=campaign, agent=an, count=1)
    (task,) = tasks_of(campaign)
    late = timezone.now() - timedelta(hours=1)
    CallTask.objects.filter(pk=task.pk).update(
        status=TaskStatus.CALLBACK, callback_at=late, available_at=late
    )
    assert tasks.callbacks_sweep() == {"reminded": 1, "escalated": 1}
    assert tasks.callbacks_sweep() == {"reminded": 0, "escalated": 0}
    task.refresh_from_db()
    assert task.agent is None and task.escalated_at is not None

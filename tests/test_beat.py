"""Celery beat wakes every periodic sweep, and each one names a task that exists."""

from config.celery import app


def test_every_beat_entry_names_a_registered_task():
    app.loader.import_default_modules()
    schedule = app.conf.beat_schedule
    assert {
        "messaging.dispatch_due",
        "messaging.zalo_token_refresh_due",
        "gifts.invitations_close_due_all",
        "fulfilment.orders_release_all",
        "fulfilment.orders_decline_unanswered",
        "callcenter.callbacks_sweep",
        "visits.trip_invitations_expire",
    } <= {entry["task"] for entry in schedule.values()}
    unknown = [
        entry["task"] for entry in schedule.values() if entry["task"] not in app.tasks
    ]
    assert unknown == []

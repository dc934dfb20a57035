"""Celery tasks for campaigns: thin, by id; the service records failures on the run."""

from celery import shared_task

from campaigns import services


@shared_task(name="campaigns.run_selection")
def run_selection(run_id: int) -> None:
    services.selection_run_execute(run_id=run_id)

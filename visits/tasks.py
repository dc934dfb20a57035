from celery import shared_task

from visits import services


@shared_task(name="visits.trip_invitations_expire")
def trip_invitations_expire() -> int:
    """Daily sweep: trip invitations whose written confirmation is overdue expire."""
    return services.trip_invitations_expire()

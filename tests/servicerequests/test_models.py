import pytest
from django.db import IntegrityError, transaction

from eligibility.models import DomainError
from servicerequests.models import ServiceRequest, Status

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize(
    ("start", "target"),
    [
        (Status.NEW, Status.ALLOCATED),
        (Status.NEW, Status.COMPLETED),
        (Status.INELIGIBLE, Status.NEW),
        (Status.COMPLETED, Status.CANCELLED),
        (Status.CANCELLED, Status.NEW),
        (Status.CONFIRMED, Status.COMPLETED),
    ],
)
def test_moves_not_declared_are_refused(start, target):
    request = ServiceRequest(msisdn="84901000001", status=start)
    with pytest.raises(DomainError, match="cannot become"):
        request.move_to(target)
    assert request.status == start


def test_declared_path_from_registration_to_the_visit():
    request = ServiceRequest(msisdn="84901000001", status=Status.NEW)
    for status in [Status.CONFIRMED, Status.ALLOCATED, Status.COMPLETED]:
        request.move_to(status)
    assert request.status == Status.COMPLETED


def test_database_refuses_a_second_open_request_for_a_number(flow):
    request = flow.register("84901000001")
    duplicate = ServiceRequest(
        campaign=request.campaign,
        msisdn=request.msisdn,
        source="web",
        confirm_due_at=request.confirm_due_at,
        visit_due_at=request.visit_due_at,
    )
    with pytest.raises(IntegrityError), transaction.atomic():
        duplicate.save()


def test_database_refuses_a_swap_without_serial(flow, field_a):
    request = flow.allocated("84901000001", field_a)
    with pytest.raises(IntegrityError), transaction.atomic():
        ServiceRequest.objects.filter(pk=request.pk).update(
            sim_swapped=True, status=Status.COMPLETED
        )

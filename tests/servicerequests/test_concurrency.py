"""Races on PostgreSQL with real threads: claims and the same number twice."""

import threading

import pytest
from django.db import close_old_connections, connection

from eligibility.models import DomainError
from servicerequests import services
from servicerequests.models import ServiceRequest, Source

pytestmark = pytest.mark.django_db(transaction=True)


def _run_together(functions):
    barrier = threading.Barrier(len(functions))
    results, errors = [None] * len(functions), []

    def worker(index, function):
        try:
            barrier.wait()
            results[index] = function()
        except Exception as exc:  # noqa: BLE001 - reported by the test
            errors.append(exc)
        finally:
            connection.close()

    threads = [
        threading.Thread(target=worker, args=(i, f)) for i, f in enumerate(functions)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    close_old_connections()
    assert not errors, errors
    return results


def test_two_agents_claiming_at_once_never_get_the_same_request(
    flow, agent, other_agent
):
    for number in ["84901000001", "84901000002", "84901000006", "84901000007"]:
        flow.register(number)
    counts = _run_together(
        [
            lambda: services.requests_claim(agent=agent, limit=3),
            lambda: services.requests_claim(agent=other_agent, limit=3),
        ]
    )
    assert sum(counts) == 4
    assert not ServiceRequest.objects.filter(agent__isnull=True).exists()
    assert ServiceRequest.objects.filter(events__kind="claimed").count() == 4


def test_same_number_by_sms_and_web_at_once_makes_one_request(campaign):
    results = _run_together(
        [
            lambda: services.request_register(
                campaign=campaign, msisdn="84901000001", source=Source.SMS
            ),
            lambda: services.request_register(
                campaign=campaign, msisdn="0901000001", source=Source.WEB
            ),
        ]
    )
    assert ServiceRequest.objects.count() == 1
    assert sorted(created for _request, created in results) == [False, True]


def test_take_back_racing_the_visit_keeps_one_consistent_outcome(
    flow, can_tho_staff, field_a
):
    request = flow.allocated("84901000001", field_a)

    def take_back():
        return services.request_unallocate(request=request, actor=can_tho_staff)

    def visit():
        return services.visit_record(
            request=request,
            actor=field_a,
            contacts_backed_up=True,
            sim_swapped=True,
            new_sim_serial="8984012345678901234",
            app_installed=True,
            record_corrected=False,
            package_advised=False,
        )

    barrier = threading.Barrier(2)
    outcomes = []

    def worker(function):
        try:
            barrier.wait()
            function()
            outcomes.append("ok")
        except DomainError as exc:
            outcomes.append(str(exc))
        finally:
            connection.close()

    threads = [threading.Thread(target=worker, args=(f,)) for f in (take_back, visit)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    close_old_connections()
    # Whichever locked the row first won; the other was refused, not half-applied.
    assert outcomes.count("ok") == 1
    request.refresh_from_db()
    if request.status == "completed":
        assert request.field_staff == field_a and request.sim_swapped
        assert request.events.filter(kind="unallocated").count() == 0
    else:
        assert request.status == "confirmed" and request.field_staff is None
        assert not request.sim_swapped and request.visited_at is None

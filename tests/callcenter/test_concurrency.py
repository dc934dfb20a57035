"""Races on PostgreSQL with real threads: claiming from the pool, two hands on a customer."""

import threading
from datetime import timedelta

import pytest
from django.db import connection
from django.utils import timezone

from callcenter import services
from callcenter.models import Call, CallRequest, Disposition, RequestKind
from eligibility.models import DomainError
from tests.callcenter.factories import agent, call_campaign, tasks_of

pytestmark = pytest.mark.django_db(transaction=True)


def run_together(*functions):
    barrier = threading.Barrier(len(functions))
    results = [None] * len(functions)

    def runner(index, function):
        try:
            barrier.wait()
            results[index] = function()
        except Exception as exc:  # noqa: BLE001 - the test inspects what happened
            results[index] = exc
        finally:
            connection.close()

    threads = [
        threading.Thread(target=runner, args=(index, function))
        for index, function in enumerate(functions)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    return results


def test_agents_pressing_next_together_get_different_customers():
    campaign = call_campaign(size=6)
    agents = [agent(f"agent{n}") for n in range(4)]
    results = run_together(
        *[
            (lambda who=who: services.task_claim_next(campaign=campaign, agent=who))
            for who in agents
        ]
    )
    assert all(not isinstance(r, Exception) for r in results), results
    claimed = [task.pk for task in results]
    assert len(set(claimed)) == 4
    owners = {task.pk: task.agent_id for task in tasks_of(campaign)}
    assert sorted(owners[pk] for pk in claimed) == sorted(a.pk for a in agents)


def test_two_tabs_ending_the_same_call_record_it_once_and_keep_both_requests():
    campaign = call_campaign(size=1)
    an = agent("an")
    services.tasks_assign(campaign=campaign, agent=an, count=1)
    (task,) = tasks_of(campaign)
    revision = task.revision

    # Two tabs of the same customer: each records a request, then each ends the call.
    # (A request added after the other tab closed the call is refused instead, which
    # is right but not what this test is about.)
    def add(kind, details):
        return lambda: services.request_add(
            task=task, agent=an, kind=kind, details=details
        )

    def end(disposition, **extra):
        return lambda: services.call_end(
            task=task,
            agent=an,
            revision=revision,
            end=services.CallEnd(
                disposition=disposition,
                started_at=timezone.now(),
                topics=["B2", "B3"],
                **extra,
            ),
        )

    added = run_together(
        add(RequestKind.COMPLAINT, {"text": "Cước cao"}),
        add(RequestKind.PACKAGE, {"package": "F90"}),
    )
    assert all(isinstance(r, CallRequest) for r in added), added
    results = run_together(
        end(Disposition.DONE),
        end(Disposition.BUSY, callback_at=timezone.now() + timedelta(hours=1)),
    )
    conflicts = [r for r in results if isinstance(r, services.Conflict)]
    calls = [r for r in results if isinstance(r, Call)]
    assert len(conflicts) == 1 and len(calls) == 1, results
    assert Call.objects.count() == 1
    assert sorted(CallRequest.objects.values_list("kind", flat=True)) == [
        "complaint",
        "package",
    ]
    task.refresh_from_db()
    assert task.last_disposition == calls[0].disposition


def test_work_moved_to_another_agent_mid_call_is_refused_for_the_first_clearly():
    campaign = call_campaign(size=1)
    an, binh = agent("an"), agent("binh")
    services.tasks_assign(campaign=campaign, agent=an, count=1)
    (task,) = tasks_of(campaign)
    revision = task.revision

    def first_agent_ends():
        return services.call_end(
            task=task,
            agent=an,
            revision=revision,
            end=services.CallEnd(
                disposition=Disposition.DONE, started_at=timezone.now(), topics=[]
            ),
        )

    def supervisor_moves():
        return services.tasks_move(campaign=campaign, from_agent=an, to_agent=binh)

    results = run_together(first_agent_ends, supervisor_moves)
    task.refresh_from_db()
    if isinstance(results[0], Call):
        # The call ended first: finished work is not moved.
        assert results[1] == 0 and task.agent == an and task.status == "done"
    else:
        assert isinstance(results[0], DomainError)
        assert results[1] == 1 and task.agent == binh and task.status == "open"
        assert not Call.objects.exists()

import os

import pytest
from django.contrib.auth.models import Group

from campaigns import roles
from tests.factories import UserFactory


def user_in_role(username: str, role: str):
    """A staff login in one of the portal's groups, password pass-1234."""
    roles.sync_roles()
    user = UserFactory(username=username, is_staff=True)
    user.groups.add(Group.objects.get(name=role))
    return user


@pytest.fixture
def care_staff(db):
    return user_in_role("cskh", roles.CARE_STAFF)


@pytest.fixture
def partner_user(db):
    return user_in_role("doitac", roles.PARTNER)


@pytest.fixture
def celery_worker_thread(transactional_db):
    """A real Celery worker on the real broker, in a thread of the test process.

    It shares the test database settings, so what it commits the test sees.
    """
    from celery.contrib.testing.worker import start_worker

    from config.celery import app

    app.conf.task_always_eager = False
    with start_worker(app, pool="solo", perform_ping_check=False, shutdown_timeout=30):
        yield


@pytest.fixture(autouse=True)
def _media_root(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path / "media"


def pytest_configure(config):
    # Playwright's sync API runs an event loop in the test thread; the ORM calls the
    # tests make around it are still synchronous.
    os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")

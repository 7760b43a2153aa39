"""Shared fixtures. Tests use pytest-django; factories live in ``tests/factories.py``."""
from __future__ import annotations

import datetime as dt
import os

import pytest
from django.db import connection

from core.business_date import set_business_date

IS_POSTGRES = os.environ.get("DATABASE_URL", "").startswith(("postgres://", "postgresql://"))


REQUIRE_SERVICE_TESTS = os.environ.get("REQUIRE_SERVICE_TESTS") == "1"
SERVICE_MARKERS = ("postgres", "worker")
_skipped_service_tests: list[str] = []
#: In CI (``CI=true``, set by ``.ci/run``) or with REQUIRE_SERVICE_TESTS a browser test that cannot run
#: (no Chromium, no CJK fonts) fails the run; elsewhere it is skipped with a loud note at the end.
REQUIRE_BROWSER_TESTS = REQUIRE_SERVICE_TESTS or os.environ.get("CI", "").strip().lower() in {"1", "true", "yes"}
_skipped_browser_tests: list[str] = []


def pytest_collection_modifyitems(config, items):
    skip_pg = pytest.mark.skip(reason="needs PostgreSQL (set DATABASE_URL)")
    for item in items:
        marker = item.get_closest_marker("django_db")
        if marker and marker.kwargs.get("transaction") and not marker.kwargs.get("serialized_rollback"):
            # A plain transactional test flushes the database and re-runs post_migrate handlers (the
            # role groups), which then collide with the rows a serialized_rollback test restores.
            raise pytest.UsageError(
                f"{item.nodeid}: django_db(transaction=True) needs serialized_rollback=True in this project"
            )
        if "postgres" in item.keywords and not IS_POSTGRES:
            item.add_marker(skip_pg)


def pytest_runtest_logreport(report):
    """Remember service tests (PostgreSQL, real worker) that were skipped."""
    if report.skipped and any(m in report.keywords for m in SERVICE_MARKERS):
        _skipped_service_tests.append(report.nodeid)
    if report.skipped and "browser" in report.keywords:
        _skipped_browser_tests.append(report.nodeid)


def pytest_sessionfinish(session, exitstatus):
    """With REQUIRE_SERVICE_TESTS=1 (CI on PostgreSQL + Redis) a skipped service test fails the run."""
    if REQUIRE_SERVICE_TESTS and _skipped_service_tests:
        print("\nThese PostgreSQL/worker tests were skipped but must run here:")
        for nodeid in _skipped_service_tests:
            print("  ", nodeid)
        session.exitstatus = 1
    if REQUIRE_BROWSER_TESTS and _skipped_browser_tests:
        print("\nThese browser tests were skipped but must run in CI (.ci/system-packages installs Chromium and fonts):")
        for nodeid in _skipped_browser_tests:
            print("  ", nodeid)
        session.exitstatus = 1


def pytest_terminal_summary(terminalreporter):
    if _skipped_browser_tests and not REQUIRE_BROWSER_TESTS:
        terminalreporter.write_line(
            f"{len(_skipped_browser_tests)} browser tests were SKIPPED: Chromium or the CJK fonts are missing. "
            "Install them with `sudo make system-packages` (Debian/Ubuntu), then run `make test` again.",
            yellow=True, bold=True,
        )


@pytest.fixture(autouse=True)
def _fast_password_hasher(settings):
    """Tests create many users: a fast hasher keeps them quick (production uses Django's default)."""
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture
def business_date(db):
    """Set the business date; returns a setter so a test can move through time."""
    def _set(value: dt.date | str) -> dt.date:
        if isinstance(value, str):
            value = dt.date.fromisoformat(value)
        return set_business_date(value)

    _set(dt.date(2026, 1, 5))
    return _set


@pytest.fixture
def system():
    from core.actors import Actor

    return Actor.system("test")


@pytest.fixture
def staff_user(db, django_user_model):
    return django_user_model.objects.create_user(username="officer", password="x-Very-long-pass-1", is_staff=True)


@pytest.fixture
def staff(staff_user):
    from core.actors import Actor

    return Actor.staff(staff_user)


@pytest.fixture
def is_postgres():
    return connection.vendor == "postgresql"


@pytest.hookimpl(trylast=True)
def pytest_collection_finish(session):
    """Browser tests (pytest-django's ``live_server``) run last of all: their teardown flush re-runs
    the post_migrate handlers (content types, permissions), whose fresh rows would collide with what a
    later serialized-rollback test restores on PostgreSQL."""
    browser = [item for item in session.items if "browser" in item.keywords]
    if browser:
        others = [item for item in session.items if "browser" not in item.keywords]
        session.items[:] = others + browser

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


@pytest.hookimpl(trylast=True)
def pytest_collection_modifyitems(config, items):
    """Runs after pytest-django's own hook, which orders the tests: plain database tests first, then the
    transactional ones (their teardown flushes the database, data migrations' rows included; a
    serialized-rollback test restores them first), then the tests without a database."""
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
    # Browser tests (pytest-django's ``live_server``) run last of all: their teardown flush re-runs the
    # post_migrate handlers (content types, permissions), whose fresh rows would collide with what a
    # later serialized-rollback test restores on PostgreSQL. Within each of pytest-django's groups the
    # slowest files go first, so that on xdist workers (which take files in this order) no long file is
    # left for the end while the other worker idles. (Done here, not in pytest_collection_finish:
    # pytest-xdist sends each worker's collected order to the scheduler from that hook.)
    items.sort(key=lambda item: (_phase(item), _heavy_rank(item)))


#: The slowest files (``--durations``), slowest first: started first within their group, and marked ``slow``.
HEAVY_FILES = (
    "test_controls_enumeration.py", "test_staff_import_jobs.py", "test_valuedate_payments.py",
    "test_valuedate_reversals.py", "test_schemathesis.py", "test_staff_changelists.py", "test_fail_closed.py",
    "test_cob_rerun.py", "test_collections_portfolio.py", "test_valuedate_parity.py", "test_cob_scenario.py",
)


def pytest_itemcollected(item):
    """The heavy files' tests are marked ``slow`` as they are collected (before ``-m`` selects): ``make test
    PYTEST_ARGS='-m "not slow" -n 2'`` is the quick run."""
    if item.path.name in HEAVY_FILES:
        item.add_marker(pytest.mark.slow)


def _heavy_rank(item) -> int:
    name = item.path.name
    return HEAVY_FILES.index(name) if name in HEAVY_FILES else len(HEAVY_FILES)


def _phase(item) -> int:
    """pytest-django's order (plain database tests, transactional ones, no database), browser tests last."""
    from pytest_django.fixtures import validate_django_db

    if "browser" in item.keywords:
        return 3
    marker = item.get_closest_marker("django_db")
    fixtures = getattr(item, "fixturenames", ())
    transactional = bool(marker) and any(validate_django_db(marker)[:2])  # transaction, reset_sequences
    if transactional or "transactional_db" in fixtures:
        return 1
    return 0 if marker or "db" in fixtures else 2


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


@pytest.fixture(autouse=True)
def _empty_caches():
    """Every test starts with empty caches. The API throttle counts a client's calls in the cache under
    its primary key, which on SQLite the next test's client gets again (the rolled-back sequence hands it
    out anew): a worker that ran the schema fuzz test's hundreds of calls and then test_api_engine.py
    within the same minute had that file's calls answered 429 (CI on SQLite). Tests use the
    process-local cache; REDIS_CACHE_URL is not set for them."""
    from django.core.cache import caches

    for cache in caches.all():
        cache.clear()


@pytest.fixture(autouse=True)
def _engine_hooks_restored():
    """A test may register a purchase check (hold everything for review, decline gift cards…) or another
    engine hook; it is gone after the test, so it cannot hold or decline the purchases of the tests that
    the same worker runs next. The apps' own registrations (made at start-up) are kept."""
    from installments import hooks

    registries = {name: value for name, value in vars(hooks).items()
                  if name.startswith("_") and not name.startswith("__") and isinstance(value, dict)}
    saved = {name: dict(registry) for name, registry in registries.items()}
    yield
    for name, registry in registries.items():
        registry.clear()
        registry.update(saved[name])


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


# --- pytest-xdist (``make test`` runs the suite on two workers; README "Tests") ------------------------
# Each worker has its own test database (pytest-django suffixes its name: test_<name>_gw0, …), its own
# process-local cache and its own tmp_path. What must still hold on every worker is the order above: no
# plain database test may run after a transactional one in the same database, or it finds the data
# migrations' rows (score bands and rules, chart of accounts, role groups…) flushed away. xdist's
# ``loadfile`` mode breaks that: it sends whole files, largest first, so a worker that ran
# test_demo_workday.py (whose last test is transactional) then failed test_risk_applications.py with
# every application declined (no score bands). The scheduler below keeps a file's tests together (its
# module fixtures are built once) but splits it where the collection order leaves it, so a file with
# both kinds becomes two units; units are handed out in collection order, so every worker runs its plain
# database tests, then its transactional ones, then the browser tests, like a serial run.


@pytest.hookimpl(optionalhook=True)
def pytest_xdist_make_scheduler(config, log):
    if config.getvalue("dist") != "loadfile":
        return None
    from xdist.scheduler import LoadScopeScheduling

    class OrderedFileScheduling(LoadScopeScheduling):
        """Work units: runs of consecutive tests of one file in the collection order, in that order."""

        def __init__(self, config, log=None):
            super().__init__(config, log)
            self._scopes: dict[str, str] = {}

        def schedule(self):
            if self.collection is None and self.collection_is_completed and self.registered_collections:
                self.config.option.loadscopereorder = False
                self._scopes, run, previous = {}, 0, None
                for nodeid in next(iter(self.registered_collections.values())):
                    path = nodeid.split("::", 1)[0]
                    if path != previous:
                        run, previous = run + 1, path
                    self._scopes[nodeid] = f"{path}#{run}"
            super().schedule()

        def _split_scope(self, nodeid):
            return self._scopes.get(nodeid) or nodeid.split("::", 1)[0]

    return OrderedFileScheduling(config, log)


@pytest.fixture(autouse=True)
def _language_reset():
    """Each test starts in the default language: a test that renders a Chinese page (the desk's) leaves Django's
    thread-local language active, and the next test in the process would read '短信' where it expects 'SMS'."""
    from django.utils import translation

    yield
    translation.deactivate()

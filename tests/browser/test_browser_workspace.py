"""Browser tests at 1366 px (a common office laptop): a credit officer finds a customer from the home
page's search box with a mobile typed with spaces, opens the customer's page (the 360° view), reads the
timeline and freezes the account from its button; the busiest changelists fit the window (no
horizontal scrolling). Screenshots go to ``artifacts/screenshots/``."""
from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest

from tests.browser.test_browser_staff import browser, login, pytestmark, shot  # noqa: F401  (fixtures and markers)

WIDTH = 1366


@pytest.fixture
def page(browser):  # noqa: F811
    context = browser.new_context(viewport={"width": WIDTH, "height": 900}, locale="en-US")
    page = context.new_page()
    page.set_default_timeout(20_000)
    yield page
    context.close()


def _overflow(page) -> int:
    """How many pixels the page, or a table's scrolling box, is wider than its room (0 or less: it fits)."""
    return page.evaluate("""() => Math.max(
        document.documentElement.scrollWidth - window.innerWidth,
        ...Array.from(document.querySelectorAll('.results, #content-main, .ws-tab'), e => e.scrollWidth - e.clientWidth))""")


@pytest.fixture
def overdue_story():
    from core.actors import Actor
    from core.business_date import set_business_date
    from debt_collection.services import cases_sync
    from installments import hooks
    from installments.daily import run_through
    from installments.services import purchase_authorize, repayment_post
    from tests.factories_installments import SYSTEM, open_account

    saved, hooks._purchase_checks = hooks._purchase_checks, {}
    try:
        set_business_date(dt.date(2026, 1, 5))
        account = open_account(limit="20000.00", opened_on=dt.date(2025, 10, 1))
        purchase_authorize(account=account, amount=Decimal("12345.60"), merchant_order_id="JD-88001", tenor=6,
                           actor=SYSTEM)
        purchase_authorize(account=account, amount=Decimal("1499.00"), merchant_order_id="JD-88002", actor=SYSTEM)
        run_through(dt.date(2026, 2, 20))
        cases_sync(on=dt.date(2026, 2, 20))
        repayment_post(account=account, amount=Decimal("300.00"), external_ref="ICBC-20260220-0042",
                       channel="bank_transfer", actor=Actor.system("test"))
    finally:
        hooks._purchase_checks = saved
    return account


def test_officer_searches_a_spaced_mobile_and_works_the_customer_page(page, live_server, overdue_story):
    from accounts.models import CreditAccount, StatusChange
    from tests.factories_staff import PASSWORD, role_user

    account = CreditAccount.objects.select_related("customer").get(pk=overdue_story.pk)
    customer = account.customer
    role_user("Credit officer", "olivia", password=PASSWORD)
    login(page, live_server, "olivia")

    mobile = customer.mobile
    page.fill("#staff-search-q", f"{mobile[:3]} {mobile[3:7]} {mobile[7:]}")
    page.press("#staff-search-q", "Enter")
    page.wait_for_selector("#search-customers")
    assert customer.masked_name in page.inner_text("#search-customers")
    assert _overflow(page) <= 0
    shot(page, "workspace-1-search-1366")

    page.click(f"#search-customers >> text={customer.reference}")
    page.wait_for_selector("#ws-header")
    header = page.inner_text("#ws-header")
    assert customer.masked_id_number in header and customer.id_number not in header
    assert "¥20,000.00" in header and "frozen (overdue)" in header.lower() and "M1" in header
    assert _overflow(page) <= 0
    shot(page, "workspace-2-customer-360-1366")

    page.click("#ws-tabs >> text=Timeline")
    page.wait_for_selector("#ws-timeline")
    timeline = page.inner_text("#ws-timeline")
    assert "overdue (DPD > 0)" in timeline and "system (cob:freezes_sync)" in timeline and "M0 → M1" in timeline
    assert "None" not in timeline
    assert _overflow(page) <= 0
    shot(page, "workspace-3-timeline-1366")

    page.click("#ws-tabs >> text=Plans & schedules")
    page.wait_for_selector("#ws-plans")
    assert "¥12,345.60" in page.inner_text("#ws-plans") and page.locator(".ws-schedule").count() == 2  # the revolving purchase is a plan too
    assert _overflow(page) <= 0
    shot(page, "workspace-4-plans-1366")

    page.click(f"#ws-accounts >> text={account.reference}")
    page.wait_for_selector("#ws-header")
    page.click("#ws-header >> text=Freeze (manual)")
    page.fill("textarea[name=reason]", "customer reported a stolen phone")
    page.click("input[type=submit].default")
    page.wait_for_selector("#ws-timeline")
    assert "customer reported a stolen phone" in page.inner_text("#ws-timeline")
    change = StatusChange.objects.filter(account=account).latest("id")
    assert (change.new_freeze_reason, change.actor.username, change.reason) == (
        "manual", "olivia", "customer reported a stolen phone")
    shot(page, "workspace-5-frozen-by-hand-1366")


CHANGELISTS = (
    "admin:accounts_creditaccount_changelist", "admin:accounts_customer_changelist",
    "admin:installments_statement_changelist", "admin:installments_repayment_changelist",
    "admin:installments_purchase_changelist", "admin:installments_plan_changelist",
    "admin:collections_collectioncase_changelist", "admin:staff_repaymentexport_changelist",
    "admin:staff_scheduleexport_changelist", "admin:staff_importrecord_changelist",
)


def test_the_busiest_changelists_fit_at_1366_px(page, live_server, overdue_story):
    from django.contrib.auth import get_user_model
    from django.urls import reverse

    from tests.factories_staff import PASSWORD

    get_user_model().objects.create_superuser("root", "root@example.com", PASSWORD)
    login(page, live_server, "root")
    wide = {}
    for name in CHANGELISTS:
        page.goto(f"{live_server.url}{reverse(name)}")
        page.wait_for_selector("#changelist")
        wide[name] = _overflow(page)
        shot(page, "changelist-1366-" + name.split(":")[1].removesuffix("_changelist"))
    assert {name: px for name, px in wide.items() if px > 0} == {}

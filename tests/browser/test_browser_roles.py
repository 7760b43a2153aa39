"""Every role's daily job in a real Chromium, once in English and once in Simplified Chinese (chosen with the
language chooser in the header), with screenshots in ``artifacts/screenshots/roles/<language>/``:

credit officer (review queue), finance (dashboard, bank-file import), collector (my cases, the case page),
collections manager (every queue, performance), risk analyst (dashboard, scorecard versions), auditor (audit
trail, read only), administrator (close-of-business runs, users).

Besides each screen's own content, the Chinese pass checks that the home page has no untranslated navigation,
dashboard or header text, and that the CJK font is installed (fc-list) and usable by the browser — so Chinese
never renders as boxes. The English pass checks that English stays English.
"""
from __future__ import annotations

import datetime as dt
import os
import random
import re
import subprocess
from decimal import Decimal
from pathlib import Path

import pytest

from tests.conftest import REQUIRE_BROWSER_TESTS
from tests.browser.test_browser_staff import ARGS, CHROMIUM, browser  # noqa: F401  (the module's browser fixture)

SHOTS = Path(__file__).resolve().parents[2] / "artifacts" / "screenshots" / "roles"
CJK = re.compile(r"[\u4e00-\u9fff]")
BUSINESS_DATE = dt.date(2026, 3, 10)
TAKEN: list[Path] = []

pytestmark = [
    pytest.mark.browser,
    pytest.mark.django_db(transaction=True, serialized_rollback=True),
    pytest.mark.skipif(not os.path.exists(CHROMIUM), reason=f"{CHROMIUM} is missing (`sudo make system-packages`)"),
]

#: What each screen must say, per language.
TEXT = {
    "en": {
        "review_cases": "Review cases", "bank_files": "Bank repayment files", "import_step": "1 · Upload",
        "cases": "Collection cases", "my_cases": "My cases", "log_contact": "Log a contact",
        "every_queue": "Collection cases (every queue)", "performance": "Collections performance",
        "portfolio": "Portfolio on 2026-03-10", "outstanding": "Outstanding balance", "scorecards": "Scorecard versions",
        "active": "Active", "audit": "Audit events", "cob_runs": "Close-of-business runs", "users": "Users",
        "business_date": "Business date", "vintage": "Vintage curves",
    },
    "zh-hans": {
        "review_cases": "复核案件", "bank_files": "银行还款文件", "import_step": "1 · 上传",
        "cases": "催收案件", "my_cases": "我的案件", "log_contact": "登记联系记录",
        "every_queue": "催收案件（全部队列）", "performance": "催收业绩",
        "portfolio": "2026-03-10 资产组合", "outstanding": "未偿余额", "scorecards": "评分卡版本",
        "active": "有效", "audit": "审计事件", "cob_runs": "日终批处理运行", "users": "用户",
        "business_date": "营业日期", "vintage": "账龄分析",
    },
}
#: English words that must not be left on the Chinese home page.
ENGLISH_KEYS = ["Customers & credit lines", "Collections", "Business date", "Portfolio on", "Outstanding balance",
                "New credit today", "Delinquency by bucket", "Roll rates", "Credit accounts", "Review cases",
                "Close of business", "Language"]


def cjk_font() -> str:
    """The CJK font fontconfig offers for Chinese (empty when none is installed)."""
    try:
        out = subprocess.run(["fc-list", ":lang=zh", "family"], capture_output=True, text=True, check=False).stdout
    except FileNotFoundError:
        return ""
    return next((line for line in out.splitlines() if "Noto Sans CJK" in line), "")


def _reference_data() -> None:
    """The data migrations' rows (queues, score bands and rules, role groups, chart, product) that an earlier
    live-server test's flush may have taken away: put them back (each is idempotent)."""
    import importlib

    from django.apps import apps

    from tests.factories_installments import ensure_reference_data

    ensure_reference_data()
    for module, function in (("debt_collection.migrations.0002_defaults", "forwards"),
                             ("risk.migrations.0002_seed_configuration", "seed")):
        getattr(importlib.import_module(module), function)(apps, None)
    from django.contrib.auth.models import Group

    from staff.roles import ROLES, roles_sync

    if Group.objects.filter(name__in=[r.name for r in ROLES]).count() < len(ROLES):
        roles_sync()


@pytest.fixture
def workday(business_date):
    """A small portfolio where every role has something to do today."""
    from cob.pipeline import run_date
    from debt_collection.models import Collector, Queue
    from installments.services import purchase_authorize, repayment_post
    from risk.demo_workday import applications_seed, scorecard_ensure
    from staff.models import PortfolioSnapshot
    from tests.factories_collections import CaseFactory
    from tests.factories_installments import SYSTEM, open_account
    from tests.factories_staff import PASSWORD, role_user

    from core.business_date import set_business_date

    _reference_data()
    users = {
        key: role_user(role, key, password=PASSWORD)
        for key, role in (("officer", "Credit officer"), ("finance", "Finance"), ("collector", "Collector"),
                          ("manager", "Collections manager"), ("risk", "Risk analyst"), ("auditor", "Auditor"),
                          ("administrator", "Administrator"))
    }
    set_business_date(BUSINESS_DATE - dt.timedelta(days=1))
    spender = open_account(opened_on=dt.date(2026, 1, 1))
    purchase_authorize(account=spender, amount=Decimal("2400.00"), merchant_order_id="w-1", tenor=6, actor=SYSTEM)
    run_date(BUSINESS_DATE - dt.timedelta(days=1))  # yesterday's close: a run record for the administrator
    set_business_date(BUSINESS_DATE)
    purchase_authorize(account=spender, amount=Decimal("800.00"), merchant_order_id="w-2", actor=SYSTEM)
    repayment_post(account=spender, amount=Decimal("500.00"), external_ref="w-r1", channel="wallet", actor=SYSTEM)
    for on, factor in ((dt.date(2026, 1, 31), Decimal("0.9")), (dt.date(2026, 2, 28), Decimal("1.0"))):
        for bucket, balance in (("M0", 20000), ("M1", 3000), ("M2", 1500), ("M3", 900)):
            PortfolioSnapshot.objects.create(on_date=on, bucket=bucket, accounts=3, balance=Decimal(balance) * factor)
    version = scorecard_ensure(user=users["risk"])
    applications_seed(rng=random.Random(3), table=version.table, user=users["officer"], count=10)
    collector = Collector.objects.create(user=users["collector"], max_open_cases=10)
    collector.queues.set(Queue.objects.all())
    CaseFactory(collector=collector, assigned_on=BUSINESS_DATE)
    CaseFactory(collector=collector, assigned_on=BUSINESS_DATE, account__bucket="M2", account__dpd=40)
    CaseFactory()  # unassigned: the manager's
    from django.core.cache import cache

    cache.clear()
    return users


class Walk:
    """One role's session: logs in, switches the language with the header's chooser, takes screenshots."""

    def __init__(self, browser, live_server, language: str, username: str):  # noqa: F811
        self.language, self.username, self.text = language, username, TEXT[language]
        self.context = browser.new_context(viewport={"width": 1366, "height": 900}, locale="en-US")
        self.page = self.context.new_page()
        self.page.set_default_timeout(20_000)
        self.url = live_server.url
        self.shots = 0
        from tests.factories_staff import PASSWORD

        page = self.page
        page.goto(f"{self.url}/admin/login/?next=/admin/")
        page.fill("#id_username", username)
        page.fill("#id_password", PASSWORD)
        page.click("input[type=submit]")
        page.wait_for_selector("#user-tools")
        if language != "en":
            with page.expect_navigation():
                page.select_option("#language-select", language)
            assert page.get_attribute("html", "lang") == language

    def shot(self, what: str) -> Path:
        self.shots += 1
        folder = SHOTS / self.language
        folder.mkdir(parents=True, exist_ok=True)
        path = folder / f"{self.username}-{self.shots}-{what}.png"
        self.page.screenshot(path=str(path), full_page=True)
        TAKEN.append(path)
        return path

    def open_section_link(self, name: str) -> None:
        self.page.goto(f"{self.url}/admin/")
        self.page.click(f".job-section th[scope=row] a:text-is('{name}')")
        self.page.wait_for_selector("#content h1")

    def h1(self) -> str:
        return self.page.inner_text("#content h1")

    def close(self) -> None:
        self.context.close()


def check_home_page(walk: Walk) -> None:
    page = walk.page
    page.goto(f"{walk.url}/admin/")
    # text_content: the words in the page, whatever CSS does to their case
    texts = page.locator(".job-section caption, .job-section th[scope=row], #business-date, "
                         "#language-chooser label").all_text_contents()
    if page.locator("#dashboard").count():
        texts += page.locator("#dashboard h2, #dashboard .kpi-label, #dashboard figcaption").all_text_contents()
    assert len(texts) > 5
    body = page.text_content("body")
    if walk.language == "en":
        assert not [t for t in texts if CJK.search(t)]
    else:
        assert [t.strip() for t in texts if not CJK.search(t)] == []
        assert [key for key in ENGLISH_KEYS if key in body] == []
        assert page.evaluate("document.fonts.check('16px \"Noto Sans CJK SC\"')")
        assert "Noto Sans CJK SC" in page.evaluate("getComputedStyle(document.body).fontFamily")
    assert walk.text["business_date"] in body


@pytest.mark.parametrize("language", ["en", "zh-hans"])
def test_each_role_walks_its_daily_job(browser, live_server, workday, language):  # noqa: F811
    if language != "en" and not cjk_font():
        message = "no CJK font (fc-list :lang=zh): `sudo make system-packages` installs fonts-noto-cjk"
        if REQUIRE_BROWSER_TESTS:
            pytest.fail(message)
        pytest.skip(message)
    from risk.models import ReviewCase

    t = TEXT[language]
    TAKEN.clear()

    # Credit officer: the review queue of applications the scorecard could not decide.
    walk = Walk(browser, live_server, language, "officer")
    check_home_page(walk)
    walk.shot("home")
    walk.open_section_link(t["review_cases"])
    open_cases = ReviewCase.objects.filter(status="open").count()
    assert open_cases >= 1 and walk.page.locator("#result_list tbody tr").count() == ReviewCase.objects.count()
    walk.shot("review-queue")
    walk.close()

    # Finance: the dashboard's figures, then the bank repayment file import.
    walk = Walk(browser, live_server, language, "finance")
    check_home_page(walk)
    assert walk.page.text_content("#kpi-outstanding .kpi-label") == t["outstanding"]
    walk.open_section_link(t["bank_files"])
    walk.page.click("a.import_link")
    walk.page.wait_for_selector("#column-help")
    assert t["import_step"] in walk.page.inner_text(".import-steps")
    walk.shot("bank-file-import")
    walk.close()

    # Collector: my cases, then a case's page with the contact form.
    walk = Walk(browser, live_server, language, "collector")
    check_home_page(walk)
    walk.open_section_link(t["cases"])
    assert walk.h1() == t["my_cases"]
    assert walk.page.locator("#result_list tbody tr").count() == 2
    walk.shot("my-cases")
    walk.page.click("#result_list tbody tr:first-child th a")
    walk.page.wait_for_selector("form.cw-form")
    assert t["log_contact"] in walk.page.inner_text("#content-main")
    walk.shot("case")
    walk.close()

    # Collections manager: every queue, then the performance page.
    walk = Walk(browser, live_server, language, "manager")
    walk.open_section_link(t["cases"])
    assert walk.h1() == t["every_queue"]
    assert walk.page.locator("#result_list tbody tr").count() == 3
    walk.shot("every-queue")
    walk.page.goto(f"{walk.url}/admin/collections/collectioncase/performance/")
    assert walk.h1() == t["performance"]
    walk.shot("performance")
    walk.close()

    # Risk analyst: the dashboard, then the scorecard versions (the German scorecard is active).
    walk = Walk(browser, live_server, language, "risk")
    check_home_page(walk)
    assert walk.page.inner_text("#dashboard h2") == t["portfolio"]
    assert walk.page.locator("#dashboard svg.chart").count() == 4
    walk.shot("dashboard")
    walk.open_section_link(t["scorecards"])
    row = walk.page.text_content("#result_list tbody tr:first-child")
    assert "german-v1" in row and t["active"] in row
    walk.shot("scorecards")
    walk.close()

    # Auditor: the audit trail, read only.
    walk = Walk(browser, live_server, language, "auditor")
    check_home_page(walk)
    walk.open_section_link(t["audit"])
    assert walk.page.locator("#result_list tbody tr").count() >= 1
    assert walk.page.locator(".object-tools .addlink").count() == 0
    walk.shot("audit-trail")
    walk.close()

    # Administrator: yesterday's close-of-business run, then the staff users.
    walk = Walk(browser, live_server, language, "administrator")
    check_home_page(walk)
    walk.open_section_link(t["cob_runs"])
    assert walk.page.locator("#result_list tbody tr").count() == 1
    walk.shot("cob-runs")
    walk.open_section_link(t["users"])
    assert walk.page.locator("#result_list tbody tr").count() == 7
    walk.shot("users")
    walk.close()

    assert len(TAKEN) == 12 and all(p.stat().st_size > 20_000 for p in TAKEN)

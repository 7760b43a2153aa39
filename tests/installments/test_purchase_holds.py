"""Issue 13 item 5: purchases held for a risk review reserve their amount, are released through one
path that closes the review case whichever screen it is done from, expire after the product's
``hold_expiry_days`` in the close of business (declined ``hold_expired``, limit restored), and the
storefront reads the outcome back with ``GET /api/v1/purchases/{id}/`` (its own purchases only).

The real risk rules hold a purchase in a high-risk category (``high_risk_category``: review)."""
from __future__ import annotations

import datetime as dt
import io
import threading
from decimal import Decimal

import pytest
from django.core.management import call_command
from django.db import connection
from django.urls import reverse

from accounts.models import CreditAccount
from accounts.selectors import account_available
from cob.models import CobRun
from core.actors import Actor
from core.audit import AuditEvent
from core.errors import ApplicationError, BusinessRuleError
from installments.models import Purchase
from installments.services import (
    PurchaseDeclinedError, purchase_authorize, purchase_hold_expire, purchase_review_approve, purchase_review_decline,
)
from risk.models import ReviewCase, RiskEvent
from risk.services import review_case_approve, review_case_decline
from tests.factories_api import api_for
from tests.factories_cob import dump_all
from tests.factories_installments import books_clean, open_account

D = Decimal
D0 = dt.date(2026, 1, 5)
SHOP = Actor.system("api:shop")


@pytest.fixture
def account(business_date):
    business_date(D0)
    return open_account(limit="10000.00", opened_on=dt.date(2026, 1, 1))


def buy(account, amount: str, order: str, *, category: str = "electronics", actor: Actor = SHOP) -> Purchase:
    return purchase_authorize(account=account, amount=D(amount), merchant_order_id=order, category=category,
                              actor=actor)


def hold(account, amount: str = "4000.00", order: str = "held-1") -> Purchase:
    purchase = buy(account, amount, order, category="gift_card")
    assert purchase.status == "held" and purchase.reason_codes == ["high_risk_category"]
    return purchase


def limits(account) -> tuple[Decimal, Decimal, Decimal]:
    account = CreditAccount.objects.get(pk=account.pk)
    return account.used_amount, account.held_amount, account_available(account=account, on=D0)


def case_of(purchase) -> ReviewCase:
    return ReviewCase.objects.get(kind="purchase_hold", account_id=purchase.account_id, purchase_ref=purchase.merchant_order_id)


# --- the held amount reserves the limit ---------------------------------------------------------------


def test_a_hold_reserves_its_amount_until_released(account):
    held = hold(account)
    assert limits(account) == (D("0.00"), D("4000.00"), D("6000.00"))
    before = dump_all()
    with pytest.raises(PurchaseDeclinedError) as exc:
        buy(account, "6000.01", "too-much")
    assert exc.value.code == "insufficient_limit"
    declined = Purchase.objects.get(merchant_order_id="too-much")
    assert (declined.status, declined.reason_codes) == ("declined", ["insufficient_limit"])
    after = dump_all()
    assert after.pop("installments.Purchase") == [*before.pop("installments.Purchase"), after_row(declined)]
    assert after == before  # the decline is recorded, nothing else moved
    assert buy(account, "6000.00", "fits").status == "approved"
    assert limits(account) == (D("6000.00"), D("4000.00"), D("0.00"))
    books_clean()
    held.refresh_from_db()
    assert held.status == "held"


def after_row(purchase) -> tuple:
    names = [f.attname for f in Purchase._meta.concrete_fields]
    return Purchase.objects.filter(pk=purchase.pk).values_list(*names).get()


def test_the_account_api_shows_the_reserved_amount(account):
    hold(account)
    http, _, _ = api_for(["accounts:read"])
    body = http.get(f"/api/v1/accounts/{account.reference}/").json()
    assert (body["used_amount"], body["held_amount"], body["available"]) == ("0.00", "4000.00", "6000.00")


def test_every_screen_shows_the_same_available_limit_with_a_hold(account, client, django_user_model):
    """One rule of the available limit (accounts.selectors.available_amount): the customer page and the
    accounts list subtract the held amount as the API does (the customer page once showed ¥10,000.00)."""
    hold(account)
    client.force_login(django_user_model.objects.create_superuser("reader", "r@example.com", "x-Very-long-pass-1"))
    page = client.get(reverse("admin:accounts_customer_change", args=[account.customer_id])).content.decode()
    header = page[page.index('id="ws-accounts"'):page.index('id="ws-tabs"')]
    assert "¥6,000.00" in header and "¥10,000.00" in header  # available, and the limit itself
    listing = client.get(reverse("admin:accounts_creditaccount_changelist")).content.decode()
    row = listing[listing.index(account.reference):]
    assert "¥6,000.00" in row[:row.index("</tr>")]


# --- one release path --------------------------------------------------------------------------------


@pytest.fixture
def officer(client, django_user_model):
    user = django_user_model.objects.create_superuser("officer", "o@example.com", "x-Very-long-pass-1")
    client.force_login(user)
    return client, user


def test_approving_on_the_purchase_screen_closes_the_risk_case(account, officer):
    client, user = officer
    held = hold(account)
    assert case_of(held).status == "open"
    client.post(reverse("admin:installments_purchase_changelist"),
                {"action": "approve_held", "_selected_action": [held.pk], "_form_action_apply": "1", "note": "ok"})
    held.refresh_from_db()
    case = case_of(held)
    assert (held.status, held.reviewed_by) == ("approved", user)
    assert (case.status, case.resolved_by, case.resolution_reason) == ("approved", user, "ok")
    assert set(RiskEvent.objects.filter(subject_ref="held-1").values_list("status", flat=True)) == {"reviewed"}
    assert limits(account) == (D("4000.00"), D("0.00"), D("6000.00"))
    # the queue no longer offers it: approving the case again is refused and changes nothing
    before = dump_all()
    with pytest.raises(BusinessRuleError) as exc:
        review_case_approve(case=case, user=user, reason="again")
    assert exc.value.code == "case_closed" and exc.value.message == f"Case {case.reference} is already approved."
    assert dump_all() == before
    books_clean()


def test_declining_on_the_purchase_screen_closes_the_risk_case_and_restores_the_limit(account, officer):
    client, user = officer
    held = hold(account)
    client.post(reverse("admin:installments_purchase_changelist"),
                {"action": "decline_held", "_selected_action": [held.pk], "_form_action_apply": "1", "reason": "fraud"})
    held.refresh_from_db()
    assert (held.status, held.reason_codes) == ("declined", ["high_risk_category", "declined_on_review"])
    case = case_of(held)
    assert (case.status, case.resolved_by, case.resolution_reason) == ("declined", user, "fraud")
    assert limits(account) == (D("0.00"), D("0.00"), D("10000.00"))


@pytest.mark.parametrize("approve", [True, False], ids=["approve", "decline"])
def test_working_the_risk_case_releases_the_purchase_through_the_same_path(account, staff_user, approve):
    held = hold(account)
    case = case_of(held)
    if approve:
        case = review_case_approve(case=case, user=staff_user, reason="known customer")
    else:
        case = review_case_decline(case=case, user=staff_user, reason="fraud")
    held.refresh_from_db()
    expected = ("approved", (D("4000.00"), D("0.00"), D("6000.00"))) if approve else (
        "declined", (D("0.00"), D("0.00"), D("10000.00")))
    assert (held.status, limits(account)) == expected
    assert (case.status, case.resolved_by) == (expected[0], staff_user)
    actions = list(AuditEvent.objects.filter(object_id=str(held.pk), object_type="installments.purchase")
                   .values_list("action", "old", "new"))
    assert actions == [("purchase_review", "held", expected[0])]
    # the purchase screen now refuses it, nothing changed
    before = dump_all()
    with pytest.raises(BusinessRuleError) as exc:
        purchase_review_decline(purchase=held, actor=Actor.staff(staff_user), reason="late")
    assert exc.value.code == "purchase_not_held"
    assert dump_all() == before
    books_clean()


def test_an_approval_the_limit_no_longer_covers_declines_and_closes_the_case(account, staff_user):
    from accounts.services import limit_change_submit

    held = hold(account)
    buy(account, "5000.00", "other")
    limit_change_submit(account=account, new_limit=D("8000.00"), actor=Actor.staff(staff_user), reason="cut")
    result = purchase_review_approve(purchase=held, actor=Actor.staff(staff_user), note="ok")
    assert (result.status, result.reason_codes) == ("declined", ["high_risk_category", "insufficient_limit"])
    case = case_of(held)
    assert (case.status, case.resolution_reason) == ("declined", "ok — declined by the credit engine: "
                                                                 "high_risk_category, insufficient_limit")
    assert limits(account) == (D("5000.00"), D("0.00"), D("3000.00"))


def test_a_case_left_open_by_an_earlier_release_follows_the_purchase(account, staff_user):
    """Before issue 13 the purchase screen released holds without closing the case: working such a case
    now closes it with the purchase's outcome instead of failing."""
    held = hold(account)
    Purchase.objects.filter(pk=held.pk).update(status="declined")
    CreditAccount.objects.filter(pk=account.pk).update(held_amount=0)
    case = review_case_approve(case=case_of(held), user=staff_user, reason="checked")
    assert (case.status, case.resolution_reason) == ("declined", "checked (the purchase was already declined)")


# --- expiry in the close of business ----------------------------------------------------------------


def cob(through: dt.date) -> None:
    call_command("cob", through=str(through), no_progress=True, stdout=io.StringIO())


def test_a_hold_expires_after_the_configured_days_in_the_close_of_business(account, settings):
    settings.CELERY_BROKER_IS_EMBEDDED = True
    held = hold(account)
    cob(D0 + dt.timedelta(days=2))  # held on the 5th: still held when the 7th closes
    held.refresh_from_db()
    assert held.status == "held" and limits(account)[1] == D("4000.00")

    cob(D0 + dt.timedelta(days=3))  # the 8th: 3 days (72 hours) later
    held.refresh_from_db()
    assert (held.status, held.reason_codes, held.reviewed_by, held.review_note) == (
        "declined", ["high_risk_category", "hold_expired"], None, "not reviewed within 3 day(s): expired on 2026-01-08")
    assert limits(account)[:2] == (D("0.00"), D("0.00"))
    case = case_of(held)
    assert (case.status, case.resolved_by, case.resolution_reason) == (
        "expired", None, "not reviewed within 3 day(s): expired on 2026-01-08")
    assert set(RiskEvent.objects.filter(subject_ref="held-1").values_list("status", flat=True)) == {"reviewed"}
    run = CobRun.objects.get(business_date=dt.date(2026, 1, 8))
    steps = list(run.steps.order_by("position").values_list("name", "slot", "rows"))
    assert steps[:2] == [("accounts.temporary_limits_expire", "temporary_limits", 0),
                         ("installments.purchase_holds_expire", "purchase_holds", 1)]
    books_clean()

    # idempotent: the date closed again changes nothing
    before = dump_all(without=("cob",))
    call_command("cob", date="2026-01-08", force=True, no_progress=True, stdout=io.StringIO())
    rerun = CobRun.objects.get(business_date=dt.date(2026, 1, 8), attempt=2)
    assert dict(rerun.steps.values_list("name", "rows"))["installments.purchase_holds_expire"] == 0
    assert dump_all(without=("cob",)) == before


def test_the_expiry_is_configurable_and_refused_before_its_time(account, staff_user):
    from installments.services import product_terms_update

    product_terms_update(terms=account.product.terms, actor=Actor.staff(staff_user), hold_expiry_days=1)
    held = hold(account)
    before = dump_all()
    with pytest.raises(BusinessRuleError) as exc:
        purchase_hold_expire(purchase=held, on=D0, actor=Actor.system("test"))
    assert (exc.value.code, exc.value.message) == ("hold_not_expired", f"Purchase {held.reference} is held until 2026-01-06.")
    assert dump_all() == before
    from installments.services import purchase_holds_expire

    assert purchase_holds_expire(on=D0, account_ids=None) == 0
    assert purchase_holds_expire(on=dt.date(2026, 1, 6), account_ids=range(account.pk + 1, account.pk + 5)) == 0
    assert purchase_holds_expire(on=dt.date(2026, 1, 6), account_ids=range(account.pk, account.pk + 1)) == 1
    assert purchase_holds_expire(on=dt.date(2026, 1, 6), account_ids=None) == 0
    held.refresh_from_db()
    assert held.status == "declined" and limits(account)[1] == D("0.00")


def test_old_holds_are_all_cleared_by_one_close_of_business(business_date, settings):
    """Like the demo's holds from months ago: the first close of business expires every one."""
    settings.CELERY_BROKER_IS_EMBEDDED = True
    business_date(dt.date(2025, 9, 1))
    accounts = [open_account(limit="5000.00", opened_on=dt.date(2025, 8, 1)) for _ in range(3)]
    for i, acc in enumerate(accounts):
        for k in range(2):
            hold(acc, "100.00", f"old-{i}-{k}")
    business_date(D0)
    cob(D0)
    assert not Purchase.objects.filter(status="held").exists()
    assert sorted(Purchase.objects.values_list("reason_codes", flat=True)) == [["high_risk_category", "hold_expired"]] * 6
    assert set(ReviewCase.objects.values_list("status", flat=True)) == {"expired"}
    assert set(CreditAccount.objects.values_list("held_amount", flat=True)) == {D("0.00")}
    books_clean()


# --- GET /api/v1/purchases/{id}/ ------------------------------------------------------------------------


def test_the_storefront_reads_its_purchase_back(account, staff_user):
    http, client, _ = api_for(["purchases:write"])
    response = http.post("/api/v1/purchases/", {"account": account.reference, "amount": "4000.00",
                                                "merchant_order_id": "shop-1", "category": "gift_card"},
                         format="json", HTTP_IDEMPOTENCY_KEY="k-1")
    assert response.status_code == 202
    ref = response.json()["id"]
    body = http.get(f"/api/v1/purchases/{ref}/").json()
    assert {k: body[k] for k in ("id", "account", "merchant_order_id", "amount", "status", "reason_codes",
                                 "hold_expires_on", "decided_at", "available", "plan", "fully_refunded")} == {
        "id": ref, "account": account.reference, "merchant_order_id": "shop-1", "amount": "4000.00",
        "status": "held", "reason_codes": ["high_risk_category"], "hold_expires_on": "2026-01-08",
        "decided_at": None, "available": "6000.00", "plan": None, "fully_refunded": False,
    }
    purchase_review_decline(purchase=Purchase.objects.get(reference=ref), actor=Actor.staff(staff_user), reason="fraud")
    body = http.get(f"/api/v1/purchases/{ref}/").json()
    assert (body["status"], body["reason_codes"], body["hold_expires_on"], body["available"]) == (
        "declined", ["high_risk_category", "declined_on_review"], None, "10000.00")
    assert body["decided_at"] is not None


def test_a_client_cannot_read_another_clients_purchase(account):
    mine, _, _ = api_for(["purchases:write"], name="shop A")
    theirs, _, _ = api_for(["purchases:write"], name="shop B")
    ref = mine.post("/api/v1/purchases/", {"account": account.reference, "amount": "10.00", "merchant_order_id": "a-1"},
                    format="json", HTTP_IDEMPOTENCY_KEY="k-a").json()["id"]
    assert mine.get(f"/api/v1/purchases/{ref}/").status_code == 200
    response = theirs.get(f"/api/v1/purchases/{ref}/")
    assert (response.status_code, response.json()) == (404, {"error": {
        "code": "purchase_not_found", "message": "No purchase with this id.", "details": {"id": ref}}})
    staff_made = buy(account, "10.00", "staff-made", actor=Actor.system("import"))
    assert mine.get(f"/api/v1/purchases/{staff_made.reference}/").status_code == 404
    without_scope, _, _ = api_for(["accounts:read"], name="reader")
    assert without_scope.get(f"/api/v1/purchases/{ref}/").status_code == 403


# --- concurrency (PostgreSQL) --------------------------------------------------------------------------


def _race(n: int, target) -> tuple[list, list]:
    barrier = threading.Barrier(n)
    results, errors = [], []

    def worker(i):
        try:
            barrier.wait(timeout=10)
            results.append(target(i))
        except ApplicationError as exc:
            errors.append(exc.code)
        finally:
            connection.close()

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    return results, errors


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_concurrent_purchases_cannot_spend_a_held_amount(business_date):
    """4,000.00 held on a 10,000.00 line: of eight concurrent purchases of 1,500.00 exactly four fit."""
    business_date(D0)
    account = open_account(limit="10000.00", opened_on=dt.date(2026, 1, 1))
    hold(account)
    results, errors = _race(8, lambda i: buy(account, "1500.00", f"race-{i}").status)
    assert results == ["approved"] * 4 and errors == ["insufficient_limit"] * 4
    assert limits(account)[:2] == (D("6000.00"), D("4000.00"))
    books_clean()


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_a_release_racing_purchases_never_overspends(business_date, django_user_model):
    """The officer approves the 4,000.00 hold while six purchases of 1,500.00 race it: whatever the
    order, the line is never exceeded and nothing stays reserved."""
    business_date(D0)
    officer = Actor.staff(django_user_model.objects.create_user("officer", password="x-Very-long-pass-1", is_staff=True))
    account = open_account(limit="10000.00", opened_on=dt.date(2026, 1, 1))
    held = hold(account)

    def target(i):
        if i == 0:
            return purchase_review_approve(purchase=held, actor=officer, note="ok").status
        return buy(account, "1500.00", f"race-{i}").status

    results, errors = _race(7, target)
    held.refresh_from_db()
    approved = Purchase.objects.filter(account=account, status="approved").exclude(pk=held.pk).count()
    used, reserved, _ = limits(account)
    assert reserved == D("0.00") and used == D("1500.00") * approved + (D("4000.00") if held.status == "approved" else 0)
    assert used <= D("10000.00") and approved >= 4 and len(results) + len(errors) == 7
    assert case_of(held).status == held.status
    books_clean()

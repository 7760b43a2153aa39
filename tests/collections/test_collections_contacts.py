"""The contact log service: each rule of PRODUCT §7 at its boundary; a refusal names the rule and
writes nothing; only the case's collector, its agency or a manager may log."""
import datetime as dt
from decimal import Decimal

import pytest

from core.errors import BusinessRuleError, ConflictError, PermissionDeniedError, ValidationError
from debt_collection import services
from debt_collection.models import CollectionCase, ContactAttempt, PromiseToPay, ThirdParty
from debt_collection.services import Author
from tests.factories_collections import (
    AgencyFactory,
    CaseFactory,
    CollectorFactory,
    ThirdPartyFactory,
    at,
    collector_user,
    manager_user,
    overdue_account,
)

D = Decimal
DAY = dt.date(2026, 1, 5)


@pytest.fixture
def collector(business_date):
    return CollectorFactory()


@pytest.fixture
def case(collector):
    return CaseFactory(collector=collector)


@pytest.fixture
def author(collector):
    return Author.staff(collector_user(collector))


def log(case, author, hhmm="10:00", *, now=None, **kw):
    kw.setdefault("channel", "voice")
    kw.setdefault("outcome", "reached")
    when = at(DAY, hhmm)
    return services.contact_log(case=case, author=author, occurred_at=when, now=now or when, **kw)


def snapshot(case):
    case.refresh_from_db()
    return (ContactAttempt.objects.count(), PromiseToPay.objects.count(), case.last_contact_at,
            list(ThirdParty.objects.values_list("refused_at", flat=True)))


def assert_refused(rule, fn, case):
    before = snapshot(case)
    with pytest.raises(BusinessRuleError) as err:
        fn()
    assert err.value.code == f"contact_rule_{rule}"
    assert err.value.details["rule"] == rule
    assert snapshot(case) == before
    return err.value


def test_a_logged_contact_records_who_when_and_what(case, author, collector):
    contact = log(case, author, "09:15", note="  spoke to debtor  ")
    case.refresh_from_db()
    assert (contact.channel, contact.party, contact.outcome, contact.note) == ("voice", "debtor", "reached", "spoke to debtor")
    assert (contact.user_id, contact.agency_id, contact.customer_id) == (collector.user_id, None, case.customer_id)
    assert case.last_contact_at == at(DAY, "09:15")


@pytest.mark.parametrize("hhmm, allowed", [("21:59", True), ("22:00", False), ("07:59", False), ("08:00", True)])
def test_quiet_hours_boundary(case, author, hhmm, allowed):
    if allowed:
        assert log(case, author, hhmm).occurred_at == at(DAY, hhmm)
    else:
        error = assert_refused("quiet_hours", lambda: log(case, author, hhmm), case)
        assert "22:00" in error.message and "08:00" in error.message


def test_third_call_allowed_fourth_refused(case, author):
    for i, outcome in enumerate(["reached", "refused", "promise_to_pay"]):
        extra = {"promise_amount": D("100"), "promise_date": DAY + dt.timedelta(days=3)} if outcome == "promise_to_pay" else {}
        log(case, author, f"1{i}:00", outcome=outcome, **extra)
    assert_refused("voice_daily_limit", lambda: log(case, author, "15:00", outcome="no_answer"), case)
    # other channels stay open, and the next day the count starts again
    assert log(case, author, "15:05", channel="sms").channel == "sms"
    tomorrow = at(DAY + dt.timedelta(days=1), "09:00")
    assert services.contact_log(case=case, author=author, channel="voice", outcome="reached", occurred_at=tomorrow,
                                now=tomorrow).pk


def test_the_limit_counts_every_author_and_every_case_of_the_debtor(case, author, business_date):
    other_collector = CollectorFactory()
    other_account = overdue_account(customer=case.customer, product__code="second", product__name="Second")
    other_case = CaseFactory(account=other_account, collector=other_collector)
    other = Author.staff(collector_user(other_collector))
    log(case, author, "09:00")
    log(other_case, other, "10:00")
    log(case, author, "11:00")
    assert_refused("voice_daily_limit", lambda: log(other_case, other, "12:00"), other_case)


def test_sixth_unanswered_allowed_seventh_refused(case, author):
    for i in range(6):
        log(case, author, f"{9 + i}:00", channel="sms", outcome="no_answer")
    assert_refused("unanswered_daily_limit", lambda: log(case, author, "16:00", channel="sms", outcome="no_answer"), case)
    assert log(case, author, "16:00", channel="voice", outcome="no_answer").channel == "voice"


def test_third_party_only_when_debtor_unreachable_never_told_never_after_refusal(case, author):
    third = ThirdPartyFactory(customer=case.customer)
    kw = {"party": "third_party", "third_party": third}
    assert_refused("third_party_debtor_reachable", lambda: log(case, author, "12:00", **kw), case)
    for hhmm in ("09:00", "10:00", "11:00"):
        log(case, author, hhmm, outcome="no_answer")
    assert_refused("third_party_disclosure", lambda: log(case, author, "12:00", discloses_debt=True, **kw), case)
    contact = log(case, author, "12:00", outcome="refused", **kw)
    third.refresh_from_db()
    assert (contact.party, contact.third_party_id, third.refused_at) == ("third_party", third.pk, at(DAY, "12:00"))
    assert_refused("third_party_refused", lambda: log(case, author, "13:00", outcome="reached", **kw), case)


def test_third_party_of_another_customer_is_rejected(case, author):
    stranger = ThirdPartyFactory(customer=overdue_account().customer)
    with pytest.raises(ValidationError) as err:
        log(case, author, party="third_party", third_party=stranger)
    assert err.value.code == "third_party_mismatch"


def test_promise_to_pay_outcome_records_the_promise_in_the_same_transaction(case, author):
    contact = log(case, author, outcome="promise_to_pay", promise_amount=D("250.5"), promise_date=DAY + dt.timedelta(days=5))
    promise = PromiseToPay.objects.get()
    assert (promise.contact_id, promise.amount, promise.made_on, promise.promised_on, promise.status) == (
        contact.pk, D("250.50"), DAY, DAY + dt.timedelta(days=5), "pending")


def test_a_bad_promise_rolls_back_the_contact_too(case, author):
    before = snapshot(case)
    with pytest.raises(ValidationError) as err:
        log(case, author, outcome="promise_to_pay", promise_amount=D("10"), promise_date=DAY + dt.timedelta(days=31))
    assert err.value.code == "promise_date_too_far"
    assert snapshot(case) == before


@pytest.mark.parametrize(
    "kw, code",
    [
        ({"channel": "pigeon"}, "invalid_channel"),
        ({"outcome": "maybe"}, "invalid_outcome"),
        ({"party": "third_party"}, "third_party_required"),
        ({"outcome": "promise_to_pay"}, "promise_required"),
        ({"promise_amount": D("1"), "promise_date": DAY}, "promise_unexpected"),
    ],
)
def test_invalid_input(case, author, kw, code):
    before = snapshot(case)
    with pytest.raises(ValidationError) as err:
        log(case, author, **kw)
    assert err.value.code == code and snapshot(case) == before


def test_time_window_for_logging(case, author):
    now = at(DAY, "12:00")
    with pytest.raises(ValidationError) as future:
        services.contact_log(case=case, author=author, channel="voice", outcome="reached", occurred_at=at(DAY, "12:10"), now=now)
    with pytest.raises(ValidationError) as old:
        services.contact_log(case=case, author=author, channel="voice", outcome="reached",
                             occurred_at=at(DAY - dt.timedelta(days=2), "12:00"), now=now)
    assert (future.value.code, old.value.code) == ("contact_in_future", "contact_too_old")
    late_entry = services.contact_log(case=case, author=author, channel="voice", outcome="reached",
                                      occurred_at=at(DAY - dt.timedelta(days=1), "21:30"), now=at(DAY, "09:00"))
    assert late_entry.occurred_at == at(DAY - dt.timedelta(days=1), "21:30")


def test_collector_b_cannot_log_on_collector_a_case(case, business_date):
    other = Author.staff(collector_user(CollectorFactory()))
    before = snapshot(case)
    with pytest.raises(PermissionDeniedError) as err:
        log(case, other)
    assert err.value.code == "case_not_yours" and snapshot(case) == before
    with pytest.raises(PermissionDeniedError):
        services.promise_record(case=case, author=other, amount=D("10"), promised_on=DAY)
    assert snapshot(case) == before


def test_manager_and_assigned_agency_may_log_another_agency_may_not(business_date):
    agency, other_agency = AgencyFactory(), AgencyFactory()
    case = CaseFactory(account=overdue_account(bucket="M4", dpd=95), agency=agency)
    assert log(case, Author.staff(manager_user())).pk
    assert log(case, Author.for_agency(agency), "11:00").agency_id == agency.pk
    with pytest.raises(PermissionDeniedError):
        log(case, Author.for_agency(other_agency), "12:00")


def test_closed_case_takes_no_contacts(case, author):
    CollectionCase.objects.filter(pk=case.pk).update(status="closed", close_reason="cured", closed_on=DAY, collector=None)
    with pytest.raises((BusinessRuleError, PermissionDeniedError)):
        log(case, Author.staff(manager_user()))
    assert ContactAttempt.objects.count() == 0


def test_one_pending_promise_per_case(case, author):
    services.promise_record(case=case, author=author, amount=D("100"), promised_on=DAY + dt.timedelta(days=2))
    with pytest.raises(ConflictError) as err:
        services.promise_record(case=case, author=author, amount=D("50"), promised_on=DAY + dt.timedelta(days=3))
    assert err.value.code == "promise_pending" and PromiseToPay.objects.count() == 1
    promise = PromiseToPay.objects.get()
    services.promise_cancel(promise=promise, author=author, reason="renegotiated")
    second = services.promise_record(case=case, author=author, amount=D("50"), promised_on=DAY + dt.timedelta(days=3))
    assert list(PromiseToPay.objects.order_by("pk").values_list("status", flat=True)) == ["cancelled", "pending"]
    assert second.amount == D("50.00")


@pytest.mark.parametrize(
    "amount, days, code",
    [("0", 2, "invalid_amount"), ("-5", 2, "invalid_amount"), ("1.234", 2, None), ("10", -1, "promise_date_past"),
     ("10", 30, None), ("10", 31, "promise_date_too_far"), ("3000.01", 2, "promise_above_balance")],
)
def test_promise_validation(case, author, amount, days, code):
    call = lambda: services.promise_record(case=case, author=author, amount=D(amount),  # noqa: E731
                                           promised_on=DAY + dt.timedelta(days=days))
    if code is None:
        assert call().amount == D(amount).quantize(D("0.01"))
    else:
        with pytest.raises(ValidationError) as err:
            call()
        assert err.value.code == code and PromiseToPay.objects.count() == 0

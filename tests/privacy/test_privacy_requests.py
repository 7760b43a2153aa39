"""Customer rights (PIPL Arts. 45–47): requests with deadlines, the complete export, correction,
deletion with and without a retention duty, consent withdrawal, expiry of retention."""
from __future__ import annotations

import dataclasses
import datetime as dt
import json

import pytest
from django.contrib.auth.models import Permission
from django.urls import reverse

from accounts import services as account_services
from accounts.models import Consent, Customer, LimitChange
from accounts.selectors import customer_find_by_id_number, customer_has_consent
from core.errors import BusinessRuleError, ConflictError, PermissionDeniedError, ValidationError
from core.models import AuditEvent
from privacy import selectors, services
from privacy.models import DataSubjectRequest, PiiAccessLog, ProcessingRestriction
from privacy.registry import get_providers, reachable_models, uncovered_models, unerased_personal_fields
from tests.factories_privacy import WANG, give_account_history, make_account, make_customer, staff_user  # noqa: F401 (fixture)

S = DataSubjectRequest.Status


@pytest.fixture
def customer(business_date):
    return make_customer()


@pytest.fixture
def exporter(db):
    from tests.factories_staff import role_user

    return role_user("Privacy officer", "dpo")


def request_of(customer, kind, staff, **kwargs):
    return services.data_request_create(customer=customer, kind=kind, actor=staff, **kwargs)


def snapshot(customer):
    customer = Customer.objects.get(pk=customer.pk)
    return (
        {f: getattr(customer, f) for f in ("name", "id_number", "mobile", "address", "email", "id_number_hash",
                                            "processing_restricted", "anonymised_at")},
        list(Consent.objects.filter(customer=customer).values_list("kind", "granted")),
        ProcessingRestriction.objects.count(),
        Customer.history.filter(id=customer.pk).count(),
    )


# --- requests and deadlines -----------------------------------------------------------------------


def test_a_request_gets_its_deadline_from_the_policy(customer, staff, business_date):
    req = request_of(customer, "access", staff, channel="app", details="send me my data")
    assert (req.received_on, req.deadline, req.status, req.outcome) == (
        dt.date(2026, 1, 5), dt.date(2026, 1, 20), S.RECEIVED, "")
    assert AuditEvent.objects.get(action="data_request_received").new == {"kind": "access", "deadline": "2026-01-20"}
    services.privacy_policy_update(actor=staff, reason="internal target", request_response_days=10,
                                   aml_retention_years=10)
    assert request_of(customer, "deletion", staff, received_on=dt.date(2026, 1, 2)).deadline == dt.date(2026, 1, 12)


def test_overdue_requests(customer, staff, business_date, client, exporter):
    late = request_of(customer, "access", staff, received_on=dt.date(2025, 12, 1))
    request_of(customer, "correction", staff)
    answered_late = request_of(customer, "correction", staff, received_on=dt.date(2025, 12, 2))
    services.data_request_reject(data_request=answered_late, actor=staff, notes="not the customer")
    assert list(selectors.data_requests_overdue()) == [late]
    client.force_login(exporter)
    body = client.get(reverse("admin:privacy_datasubjectrequest_changelist")).content.decode()
    assert body.count("(overdue)") == 1 and "2025-12-16 (overdue)" in body.replace("Dec. 16, 2025", "2025-12-16")


@pytest.mark.parametrize("kwargs, error", [
    ({"kind": "portability"}, ValidationError),
    ({"kind": "access", "received_on": dt.date(2026, 1, 6)}, ValidationError),
], ids=["unknown-kind", "received-in-the-future"])
def test_bad_requests_are_refused(customer, staff, kwargs, error):
    with pytest.raises(error):
        services.data_request_create(customer=customer, actor=staff, **kwargs)
    assert not DataSubjectRequest.objects.exists()


def test_status_transitions(customer, staff):
    req = request_of(customer, "correction", staff)
    services.data_request_start(data_request=req, actor=staff)
    req.refresh_from_db()
    assert (req.status, req.handled_by) == (S.IN_PROGRESS, staff.user)
    with pytest.raises(BusinessRuleError):
        services.data_request_start(data_request=req, actor=staff)
    with pytest.raises(ValidationError):
        services.data_request_reject(data_request=req, actor=staff, notes=" ")
    services.data_request_reject(data_request=req, actor=staff, notes="We could not verify your identity.")
    req.refresh_from_db()
    assert (req.status, req.outcome, req.outcome_notes) == (S.REJECTED, "rejected", "We could not verify your identity.")
    assert req.completed_at is not None
    with pytest.raises(BusinessRuleError):
        services.data_request_reject(data_request=req, actor=staff, notes="again")


# --- access / copy ----------------------------------------------------------------------------------


def test_every_model_that_reaches_a_customer_is_declared_by_a_provider():
    """A new model holding customer data must be exported and erased (or declared not personal)."""
    assert uncovered_models() == []
    assert "accounts.customer" in reachable_models() and "accounts.historicalcustomer" in reachable_models()


def test_every_personal_field_is_erased_or_kept_for_a_stated_reason():
    assert unerased_personal_fields() == []


def test_the_coverage_checks_can_fail():
    from privacy.registry import get_provider, register

    accounts = get_provider("accounts")
    try:
        register(dataclasses.replace(accounts, records=accounts.records[1:], erases=()))
        assert "accounts.customer" in uncovered_models()
        assert "accounts.customer.mobile" in unerased_personal_fields()
    finally:
        register(accounts)
    assert "accounts.customer" not in uncovered_models()


@pytest.fixture
def customer_with_history(customer, staff, business_date):
    account = give_account_history(make_account(customer), staff)
    services.consent_withdraw(customer=customer, kind=Consent.Kind.MARKETING, actor=staff, reason="customer asked")
    services.customer_correct(customer=customer, changes={"address": "上海市徐汇区漕溪北路1号"}, actor=staff,
                              reason="moved house")
    return Customer.objects.get(pk=customer.pk), account


def test_the_access_export_holds_every_record_of_the_customer(customer_with_history, staff, exporter, business_date):
    customer, account = customer_with_history
    other = make_customer(5)
    give_account_history(make_account(other), staff)  # must not leak into the export
    req = request_of(customer, "access", staff)

    req, payload = services.data_request_fulfil_access(data_request=req, user=exporter)
    doc = json.loads(payload)
    records = doc["records"]
    assert doc["format"] == "credit-backoffice/personal-data-export" and doc["subject"] == {"reference": customer.reference}
    # Every record set of every registered provider is in the export.
    assert set(records) == {r.name for p in get_providers() for r in p.records}
    expected_counts = {
        "profile": 1,
        "consents": 5,  # 4 given at sign-up + the withdrawal
        "credit_accounts": 1,
        "limit_changes": LimitChange.objects.filter(account=account).count(),
        "temporary_limits": 1,
        "status_changes": 2,
        "bucket_changes": 2,
        "data_requests": 1,
    }
    assert expected_counts["limit_changes"] == 3  # opening, review, temporary
    for name, count in expected_counts.items():
        assert doc["record_counts"][name] == count == len(records[name]), name
    assert doc["record_counts"]["profile_history"] >= 2  # creation and the correction
    assert doc["record_counts"]["audit_events"] >= 3
    profile = records["profile"][0]
    assert (profile["name"], profile["id_number"], profile["mobile"], profile["address"]) == (
        WANG["name"], WANG["id_number"], WANG["mobile"], "上海市徐汇区漕溪北路1号")
    assert "id_number_hash" not in profile  # internal keyed hash left out
    assert {h["address"] for h in records["profile_history"]} >= {WANG["address"], "上海市徐汇区漕溪北路1号"}
    assert records["credit_accounts"][0]["reference"] == account.reference
    assert records["credit_accounts"][0]["fixed_limit"] == "12000.00"
    assert records["limit_changes"][0]["account"] == account.reference  # references, not ids
    assert {c["actor"] for c in records["limit_changes"]} == {None, "staff"}  # no staff names
    assert {(c["kind"], c["granted"]) for c in records["consents"]} >= {("marketing", False), ("marketing", True)}
    assert other.mobile not in payload.decode() and other.id_number not in payload.decode()
    assert doc["retention"][0]["until"] is None  # the account is open
    # The request is answered, with a digest of exactly what was delivered.
    req.refresh_from_db()
    assert (req.status, req.outcome) == (S.COMPLETED, "exported")
    assert req.result["sha256"] == selectors.export_digest(payload)
    assert req.result["record_counts"] == doc["record_counts"]
    # The export is logged as an access to the personal data, and audited.
    log = PiiAccessLog.objects.get()
    assert (log.user, log.customer, log.channel) == (exporter, customer, "export")
    assert AuditEvent.objects.get(action="personal_data_export").new["sha256"] == req.result["sha256"]


def test_exporting_needs_the_permission(customer, staff, staff_user):
    req = request_of(customer, "access", staff)
    with pytest.raises(PermissionDeniedError):
        services.data_request_fulfil_access(data_request=req, user=staff_user)
    req.refresh_from_db()
    assert req.status == S.RECEIVED and not PiiAccessLog.objects.exists()
    assert not AuditEvent.objects.filter(action="personal_data_export").exists()


def test_only_access_requests_are_answered_with_an_export(customer, staff, exporter):
    req = request_of(customer, "deletion", staff)
    with pytest.raises(BusinessRuleError):
        services.data_request_fulfil_access(data_request=req, user=exporter)
    assert not PiiAccessLog.objects.exists()


def test_the_export_downloads_from_the_admin(client, customer_with_history, staff, exporter):
    customer, _ = customer_with_history
    req = request_of(customer, "access", staff)
    client.force_login(exporter)
    page = client.get(reverse("admin:privacy_datasubjectrequest_change", args=[req.pk]))
    assert page.status_code == 200
    assert reverse("admin:privacy_datasubjectrequest_export", args=[req.pk]) in page.content.decode()
    assert WANG["id_number"] not in page.content.decode()
    url = reverse("admin:privacy_datasubjectrequest_export", args=[req.pk])
    response = client.post(url)
    assert response.status_code == 200
    assert response["Content-Type"].startswith("application/json")
    assert f'personal-data-{customer.reference}-{req.reference}.json' in response["Content-Disposition"]
    assert "no-store" in response["Cache-Control"]
    doc = json.loads(response.content)
    assert doc["records"]["profile"][0]["id_number"] == WANG["id_number"]
    req.refresh_from_db()
    assert req.status == S.COMPLETED
    # A second download of the answered request is allowed and logged again.
    assert client.post(url).status_code == 200
    assert PiiAccessLog.objects.filter(channel="export").count() == 2


def test_the_export_download_is_403_without_the_permission(client, customer, staff, django_user_model):
    user = django_user_model.objects.create_user("viewer", password=None, is_staff=True)
    user.user_permissions.add(Permission.objects.get(codename="change_datasubjectrequest"),
                              Permission.objects.get(codename="view_all_customers"))
    req = request_of(customer, "access", staff)
    client.force_login(user)
    response = client.post(reverse("admin:privacy_datasubjectrequest_export", args=[req.pk]))
    assert response.status_code == 403
    assert WANG["id_number"] not in response.content.decode()
    req.refresh_from_db()
    assert req.status == S.RECEIVED and not PiiAccessLog.objects.exists()


# --- correction ---------------------------------------------------------------------------------------


def test_correction_changes_the_data_keeps_the_look_up_and_audits_masked_values(customer, staff):
    req = request_of(customer, "correction", staff)
    from core.identity import make_id_number

    new_id = make_id_number("110105", dt.date(1988, 3, 14), 418)
    services.customer_correct(customer=customer, changes={"mobile": "13800001111", "id_number": new_id.lower()},
                              actor=staff, reason="typo at sign-up", data_request=req)
    customer.refresh_from_db()
    assert (customer.mobile, customer.id_number, customer.id_number_last4) == ("13800001111", new_id, new_id[-4:])
    assert customer_find_by_id_number(new_id) == customer
    assert customer_find_by_id_number(WANG["id_number"]) is None
    event = AuditEvent.objects.get(action="pii_correction")
    assert event.old == {"mobile": "139****5678", "id_number": "110***********" + WANG["id_number"][-4:]}
    assert event.new == {"mobile": "138****1111", "id_number": "110***********" + new_id[-4:]}
    req.refresh_from_db()
    assert (req.status, req.outcome, req.result) == (S.COMPLETED, "corrected", {"fields": ["id_number", "mobile"]})


@pytest.mark.parametrize("changes, error", [
    ({"mobile": "12345"}, ValidationError),
    ({"id_number": WANG["id_number"][:17] + ("0" if WANG["id_number"][17] != "0" else "1")}, ValidationError),
    ({"name": ""}, ValidationError),
    ({"email": "not-an-email"}, ValidationError),
    ({"reference": "X"}, ValidationError),
    ({"mobile": WANG["mobile"]}, BusinessRuleError),
], ids=["bad-mobile", "bad-check-digit", "empty-name", "bad-email", "not-correctable", "unchanged"])
def test_refused_corrections_change_nothing(customer, staff, changes, error):
    req = request_of(customer, "correction", staff)
    before = snapshot(customer)
    with pytest.raises(error):
        services.customer_correct(customer=customer, changes=changes, actor=staff, reason="fix", data_request=req)
    assert snapshot(customer) == before
    req.refresh_from_db()
    assert req.status == S.RECEIVED
    assert not AuditEvent.objects.filter(action="pii_correction").exists()


def test_a_correction_to_another_customers_id_number_is_a_conflict(customer, staff):
    other = make_customer(3)
    before = snapshot(customer)
    with pytest.raises(ConflictError):
        services.customer_correct(customer=customer, changes={"id_number": other.id_number}, actor=staff, reason="x")
    assert snapshot(customer) == before


def test_correction_through_the_admin(client, customer, staff, exporter):
    req = request_of(customer, "correction", staff)
    client.force_login(exporter)
    url = reverse("admin:privacy_datasubjectrequest_correct", args=[req.pk])
    page = client.get(url)
    assert page.status_code == 200 and WANG["mobile"] not in page.content.decode()
    response = client.post(url, {"email": "new@example.com", "reason": "customer letter"})
    assert response.status_code == 302
    customer.refresh_from_db()
    assert customer.email == "new@example.com"
    req.refresh_from_db()
    assert req.status == S.COMPLETED


# --- consents ---------------------------------------------------------------------------------------------


def test_consent_withdrawal_is_respected(customer, staff):
    assert customer_has_consent(customer=customer, kind="marketing")
    assert selectors.customer_may_process(customer=customer, purpose="marketing")
    services.consent_withdraw(customer=customer, kind="marketing", actor=staff, reason="phone call")
    assert not customer_has_consent(customer=customer, kind="marketing")
    assert not selectors.customer_may_process(customer=customer, purpose="marketing")
    assert customer_has_consent(customer=customer, kind="agency_sharing")  # the others stand
    withdrawal = Consent.objects.filter(customer=customer, kind="marketing").first()
    assert (withdrawal.granted, withdrawal.version) == (False, "v2")
    before = snapshot(customer)
    with pytest.raises(BusinessRuleError):
        services.consent_withdraw(customer=customer, kind="marketing", actor=staff, reason="again")
    with pytest.raises(ValidationError):
        services.consent_withdraw(customer=customer, kind="telepathy", actor=staff, reason="x")
    assert snapshot(customer) == before
    # Granting again (a new consent record) restores it.
    account_services.consent_record(customer=customer, kind="marketing", version="v3", granted=True)
    assert customer_has_consent(customer=customer, kind="marketing")


def test_a_restricted_customer_is_not_processed_for_any_purpose(customer, staff):
    Customer.objects.filter(pk=customer.pk).update(processing_restricted=True)
    customer.refresh_from_db()
    latest = Consent.objects.filter(customer=customer, kind="marketing").order_by("-recorded_at", "-id").first()
    assert latest is not None and latest.granted  # the consent record stands…
    assert not customer_has_consent(customer=customer, kind="marketing")  # …but the restriction wins everywhere
    assert not selectors.customer_may_process(customer=customer, purpose="marketing")


# --- deletion ---------------------------------------------------------------------------------------------


def _everything(connection):
    from tests.privacy.test_privacy_encryption import every_value_in_the_database

    return every_value_in_the_database()


def test_deletion_without_a_retention_duty_anonymises(customer, staff, business_date):
    from django.db import connection

    services.customer_correct(customer=customer, changes={"mobile": "13811112222"}, actor=staff, reason="new phone")
    req = request_of(customer, "deletion", staff)
    services.data_request_fulfil_deletion(data_request=req, actor=staff)
    customer.refresh_from_db()
    assert (customer.name, customer.id_number, customer.mobile, customer.address, customer.email) == (
        "Anonymised", "", "", "", "")
    assert customer.anonymised_at is not None and customer.processing_restricted
    assert customer_find_by_id_number(WANG["id_number"]) is None
    assert not any(customer_has_consent(customer=customer, kind=k) for k in Consent.Kind.values)
    req.refresh_from_db()
    assert (req.status, req.outcome) == (S.COMPLETED, "anonymised")
    assert req.result["retention"] == []
    # Nothing identifying is left anywhere in the database: not in the profile's history, not in audit rows.
    everything = _everything(connection)
    for value in (WANG["name"], WANG["id_number"], WANG["mobile"], "13811112222", WANG["address"], WANG["email"],
                  "王**", "139****5678", "138****2222"):  # masked values in audit rows too
        assert value not in everything, value
    with pytest.raises(BusinessRuleError):
        services.customer_erase(customer=customer, actor=staff, reason="again")


def test_deletion_while_an_account_is_open_is_refused_and_changes_nothing(customer, staff):
    make_account(customer)
    req = request_of(customer, "deletion", staff)
    before = snapshot(customer)
    with pytest.raises(BusinessRuleError) as exc:
        services.data_request_fulfil_deletion(data_request=req, actor=staff)
    assert exc.value.code == "account_open"
    assert snapshot(customer) == before
    req.refresh_from_db()
    assert req.status == S.RECEIVED
    assert not AuditEvent.objects.filter(action="personal_data_deletion").exists()


@pytest.fixture
def closed_customer(customer, staff, business_date):
    account = make_account(customer)
    account_services.account_close(account=account, actor=staff, reason="customer asked")  # closed 2026-01-05
    return customer


def test_deletion_with_a_retention_duty_restricts_processing_and_says_why(closed_customer, staff):
    customer = closed_customer
    req = request_of(customer, "deletion", staff)
    services.data_request_fulfil_deletion(data_request=req, actor=staff)
    customer.refresh_from_db()
    # Identity and transaction records are kept…
    assert (customer.name, customer.id_number, customer.mobile) == (WANG["name"], WANG["id_number"], WANG["mobile"])
    assert customer_find_by_id_number(WANG["id_number"]) == customer
    assert customer.anonymised_at is None
    # …but processing is restricted and no consent stands.
    assert customer.processing_restricted
    assert not any(customer_has_consent(customer=customer, kind=k) for k in Consent.Kind.values)
    restriction = ProcessingRestriction.objects.get(customer=customer, released_at__isnull=True)
    assert restriction.retained_until == dt.date(2036, 1, 5)
    assert "Anti-Money Laundering" in restriction.basis and restriction.request == req
    req.refresh_from_db()
    assert (req.status, req.outcome) == (S.COMPLETED, "restricted")
    assert "until 2036-01-05" in req.outcome_notes and "Anti-Money Laundering" in req.outcome_notes
    assert req.result["retention"][0]["until"] == "2036-01-05"


def test_retention_counts_from_the_policy(closed_customer, staff):
    services.privacy_policy_update(actor=staff, reason="new rule", request_response_days=15, aml_retention_years=5)
    result = services.customer_erase(customer=closed_customer, actor=staff, reason="deletion request")
    assert result.restriction.retained_until == dt.date(2031, 1, 5)


def test_when_retention_ends_the_customer_is_anonymised(closed_customer, staff, business_date):
    services.customer_erase(customer=closed_customer, actor=staff, reason="deletion request")
    business_date("2036-01-05")  # the last day of the duty
    assert services.restrictions_release_expired() == 0
    closed_customer.refresh_from_db()
    assert closed_customer.anonymised_at is None
    business_date("2036-01-06")
    assert services.restrictions_release_expired() == 1
    closed_customer.refresh_from_db()
    assert closed_customer.name == "Anonymised" and closed_customer.anonymised_at is not None
    assert ProcessingRestriction.objects.get().released_at is not None
    event = AuditEvent.objects.filter(action="personal_data_deletion").first()
    assert event.actor is None and event.actor_rule == services.RETENTION_EXPIRED_RULE
    assert services.restrictions_release_expired() == 0  # idempotent


def test_deletion_through_the_admin_needs_confirmation(client, closed_customer, staff, exporter):
    req = request_of(closed_customer, "deletion", staff)
    client.force_login(exporter)
    url = reverse("admin:privacy_datasubjectrequest_erase", args=[req.pk])
    assert client.post(url, {}).status_code == 200  # not confirmed: the form again
    req.refresh_from_db()
    assert req.status == S.RECEIVED
    assert client.post(url, {"confirm": "on"}).status_code == 302
    req.refresh_from_db()
    assert (req.status, req.outcome) == (S.COMPLETED, "restricted")


def test_request_pages_need_the_change_permission(client, customer, staff, staff_user):
    req = request_of(customer, "deletion", staff)
    client.force_login(staff_user)
    for action in ("start", "erase", "reject", "correct", "export"):
        assert client.post(reverse(f"admin:privacy_datasubjectrequest_{action}", args=[req.pk])).status_code == 403
    req.refresh_from_db()
    assert req.status == S.RECEIVED

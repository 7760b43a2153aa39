"""Issue 12: maker-checker. A limit change above the threshold waits for a second officer; the maker
never decides it; approval applies it through the same service (policy checked again), atomically, with
an audit row of maker and checker; rejection changes nothing; a decided request is not decided again."""
from __future__ import annotations

import datetime as dt
import threading
from decimal import Decimal

import pytest
from django.db import connection
from django.urls import reverse

from accounts import services
from accounts.limits import LimitPolicyError
from accounts.models import CreditAccount, LimitChange, TemporaryLimit
from approvals.models import ApprovalPolicy, ApprovalRequest
from approvals.services import approval_approve, approval_reject
from core.actors import Actor
from core.errors import ConflictError, PermissionDeniedError
from core.models import AuditEvent
from risk.models import RiskPolicy
from tests.factories import CreditAccountFactory
from tests.factories_staff import role_user

D = Decimal
QUEUE_URL = reverse("admin:approvals_approvalrequest_changelist")
ACCOUNTS_URL = reverse("admin:accounts_creditaccount_changelist")


def account_state(account) -> tuple:
    account = CreditAccount.objects.get(pk=account.pk)
    return (account.fixed_limit, LimitChange.objects.filter(account=account).count(),
            TemporaryLimit.objects.filter(account=account).count())


@pytest.fixture
def officers(business_date):
    return role_user("Credit officer", "maker"), role_user("Credit officer", "checker")


def raise_to(account, new_limit: str, maker):
    return services.limit_change_submit(account=account, new_limit=D(new_limit), actor=Actor.staff(maker),
                                        reason="customer asked")


@pytest.mark.django_db
@pytest.mark.parametrize("old, new", [("10000.00", "15000.00"), ("45000.00", "65000.00"), ("10000.00", "9000.00")],
                         ids=["+50%", "+20000.00", "cut"])
def test_within_the_threshold_applies_at_once(officers, old, new):
    maker, _ = officers
    RiskPolicy.objects.update_or_create(singleton=1, defaults={"max_limit": D("100000.00")})
    account = CreditAccountFactory(fixed_limit=D(old))
    submitted = raise_to(account, new, maker)
    assert submitted.applied and submitted.request is None
    assert CreditAccount.objects.get(pk=account.pk).fixed_limit == D(new)
    assert not ApprovalRequest.objects.exists()


@pytest.mark.django_db
@pytest.mark.parametrize("old, new", [("10000.00", "15000.01"), ("45000.00", "65000.01")],
                         ids=["share-rule:+50%-and-a-cent", "amount-rule:+20000.01"])
def test_above_the_threshold_waits_and_changes_nothing(officers, old, new):
    maker, _ = officers
    RiskPolicy.objects.update_or_create(singleton=1, defaults={"max_limit": D("100000.00")})
    account = CreditAccountFactory(fixed_limit=D(old))
    before = account_state(account)
    submitted = raise_to(account, new, maker)
    assert not submitted.applied
    request = submitted.request
    assert (request.kind, request.status, request.maker, request.amount, request.base, request.object_id) == (
        "accounts.fixed_limit", "pending", maker, D(new) - D(old), D(old), str(account.pk))
    assert account_state(account) == before
    audit = AuditEvent.objects.get(action="approval_request")
    assert (audit.actor, audit.object_id, audit.reason) == (maker, str(request.pk), "customer asked")


@pytest.mark.django_db
def test_a_request_the_policy_refuses_now_is_refused_now_not_queued(officers):
    maker, _ = officers
    account = CreditAccountFactory(fixed_limit=D("10000.00"))
    before = (account_state(account), AuditEvent.objects.count())
    with pytest.raises(LimitPolicyError) as exc:
        raise_to(account, "500000.00", maker)
    assert exc.value.code == "limit_above_maximum"
    assert not ApprovalRequest.objects.exists()
    assert (account_state(account), AuditEvent.objects.count()) == before


@pytest.mark.django_db
def test_the_maker_cannot_approve_or_reject_their_own(officers):
    maker, _ = officers
    account = CreditAccountFactory(fixed_limit=D("10000.00"))
    request = raise_to(account, "16000.00", maker).request
    before = account_state(account)
    for decide in (lambda: approval_approve(approval=request, user=maker),
                   lambda: approval_reject(approval=request, user=maker, note="no")):
        with pytest.raises(PermissionDeniedError) as exc:
            decide()
        assert exc.value.code == "maker_cannot_decide"
    request.refresh_from_db()
    assert (request.status, request.checker) == ("pending", None)
    assert account_state(account) == before


@pytest.mark.django_db
def test_the_maker_posting_approve_by_hand_changes_nothing(client, officers):
    maker, _ = officers
    account = CreditAccountFactory(fixed_limit=D("10000.00"))
    request = raise_to(account, "16000.00", maker).request
    before = account_state(account)
    client.force_login(maker)
    response = client.post(QUEUE_URL, {"action": "approve", "_selected_action": [request.pk], "_form_action_apply": "1",
                                       "note": "mine"}, follow=True)
    messages = [str(m) for m in response.context["messages"]]
    assert messages == [f"Refused — {request}: The maker of a request cannot decide it: a second person must."]
    request.refresh_from_db()
    assert request.status == "pending" and account_state(account) == before


@pytest.mark.django_db
def test_a_second_officer_approves_in_the_admin_and_it_is_applied_and_audited(client, officers):
    maker, checker = officers
    account = CreditAccountFactory(fixed_limit=D("10000.00"))
    client.force_login(maker)
    response = client.post(ACCOUNTS_URL, {"action": "adjust_limit", "_selected_action": [account.pk],
                                          "_form_action_apply": "1", "new_limit": "16000.00", "reason": "payslip"},
                           follow=True)
    request = ApprovalRequest.objects.get()
    assert any("waits for a second person's approval" in str(m) and request.reference in str(m)
               for m in response.context["messages"])
    assert CreditAccount.objects.get(pk=account.pk).fixed_limit == D("10000.00")

    client.force_login(checker)
    queue = client.get(QUEUE_URL)
    assert queue.status_code == 200 and request.reference in queue.content.decode()
    client.post(QUEUE_URL, {"action": "approve", "_selected_action": [request.pk], "_form_action_apply": "1",
                            "note": "checked the payslip"})
    request.refresh_from_db()
    assert (request.status, request.checker, request.decision_note) == ("approved", checker, "checked the payslip")
    account.refresh_from_db()
    assert account.fixed_limit == D("16000.00")
    change = LimitChange.objects.get(account=account)
    assert (change.old_limit, change.new_limit, change.actor) == (D("10000.00"), D("16000.00"), maker)
    assert change.reason == f"payslip [approved by checker, request {request.reference}]"
    audit = AuditEvent.objects.get(action="approval_approve")
    assert (audit.actor, audit.object_id) == (checker, str(request.pk))
    assert audit.new == {"status": "approved", "kind": "accounts.fixed_limit", "maker": "maker", "checker": "checker",
                         "result": str(account)}


@pytest.mark.django_db
def test_reject_changes_nothing_and_a_decided_request_is_not_decided_again(officers):
    maker, checker = officers
    third = role_user("Credit officer", "third")
    account = CreditAccountFactory(fixed_limit=D("10000.00"))
    request = raise_to(account, "16000.00", maker).request
    before = account_state(account)
    approval_reject(approval=request, user=checker, note="no payslip")
    request.refresh_from_db()
    assert (request.status, request.checker, request.decision_note) == ("rejected", checker, "no payslip")
    assert account_state(account) == before
    assert AuditEvent.objects.filter(action="approval_reject", actor=checker).count() == 1
    for decide in (lambda: approval_approve(approval=request, user=third),
                   lambda: approval_reject(approval=request, user=third, note="again")):
        with pytest.raises(ConflictError) as exc:
            decide()
        assert exc.value.code == "approval_decided"
    assert account_state(account) == before

    approved = raise_to(account, "17000.00", maker).request
    approval_approve(approval=approved, user=checker)
    with pytest.raises(ConflictError):
        approval_approve(approval=approved, user=third)
    assert LimitChange.objects.filter(account=account).count() == 1


@pytest.mark.django_db
def test_approval_checks_the_policy_again_at_decision_time(officers):
    maker, checker = officers
    account = CreditAccountFactory(fixed_limit=D("10000.00"))
    request = raise_to(account, "16000.00", maker).request
    RiskPolicy.objects.update_or_create(singleton=1, defaults={"max_limit": D("15000.00")})
    before = (account_state(account), AuditEvent.objects.count())
    with pytest.raises(LimitPolicyError) as exc:
        approval_approve(approval=request, user=checker)
    assert exc.value.code == "limit_above_maximum"
    request.refresh_from_db()
    assert (request.status, request.checker, request.decided_at) == ("pending", None, None)
    assert (account_state(account), AuditEvent.objects.count()) == before


@pytest.mark.django_db
def test_a_checker_needs_the_kinds_permission(officers):
    maker, _ = officers
    finance = role_user("Finance", "finance")
    account = CreditAccountFactory(fixed_limit=D("10000.00"))
    request = raise_to(account, "16000.00", maker).request
    with pytest.raises(PermissionDeniedError) as exc:
        approval_approve(approval=request, user=finance)
    assert exc.value.code == "approval_permission"
    request.refresh_from_db()
    assert request.status == "pending"


@pytest.mark.django_db
def test_temporary_limits_and_new_accounts_wait_above_their_thresholds(client, officers):
    from tests.factories import CreditProductFactory, CustomerFactory

    maker, checker = officers
    account = CreditAccountFactory(fixed_limit=D("10000.00"))
    staff = Actor.staff(maker)
    small = services.temporary_limit_submit(account=account, amount=D("5000.00"), starts_on=dt.date(2026, 6, 1),
                                            ends_on=dt.date(2026, 6, 30), actor=staff, reason="618")
    big = services.temporary_limit_submit(account=account, amount=D("5000.01"), starts_on=dt.date(2026, 7, 1),
                                          ends_on=dt.date(2026, 7, 30), actor=staff, reason="summer")
    assert (small.applied, big.applied) == (True, False)
    assert TemporaryLimit.objects.filter(account=account).count() == 1
    approval_approve(approval=big.request, user=checker)
    assert sorted(TemporaryLimit.objects.filter(account=account).values_list("amount", flat=True)) == [
        D("5000.00"), D("5000.01")]

    client.force_login(maker)
    customer, product = CustomerFactory(), CreditProductFactory()
    response = client.post(reverse("admin:accounts_creditaccount_add"), {
        "customer": customer.pk, "product": product.pk, "fixed_limit": "20000.01", "bill_day": "1", "reason": "walk-in"})
    request = ApprovalRequest.objects.get(kind="accounts.account_open")
    assert response.status_code == 302 and response["Location"] == reverse(
        "admin:approvals_approvalrequest_change", args=[request.pk])
    assert not CreditAccount.objects.filter(customer=customer).exists()
    approval_approve(approval=request, user=checker)
    assert CreditAccount.objects.get(customer=customer).fixed_limit == D("20000.01")


@pytest.mark.django_db
def test_thresholds_are_staff_editable_and_audited(client, officers):
    # Issue 23 item 3: a change of the thresholds is a request that a second administrator approves.
    maker, _ = officers
    administrator = role_user("Administrator", "administrator")
    second_administrator = role_user("Administrator", "administrator2")
    client.force_login(administrator)
    assert client.get(reverse("admin:approvals_approvalpolicy_changelist")).status_code == 200
    policy = ApprovalPolicy.objects.get(kind="accounts.fixed_limit")
    assert (policy.amount_above, policy.share_above) == (D("20000.00"), D("0.500000"))
    response = client.post(reverse("admin:approvals_approvalpolicy_change", args=[policy.pk]),
                           {"amount_above": "50000.00", "share_above": "1.00", "maker_day_above": "100000.00",
                            "days_above": "", "reason": "busy season"})
    assert response.status_code == 302
    policy.refresh_from_db()
    assert (policy.amount_above, policy.share_above) == (D("20000.00"), D("0.500000"))
    approval_approve(approval=ApprovalRequest.objects.get(kind="approvals.control_setting"), user=second_administrator)
    policy.refresh_from_db()
    assert (policy.amount_above, policy.share_above) == (D("50000.00"), D("1.000000"))
    assert AuditEvent.objects.get(action="approval_policy_change").actor == administrator
    account = CreditAccountFactory(fixed_limit=D("10000.00"))
    assert raise_to(account, "16000.00", maker).applied


@pytest.mark.django_db
def test_the_queue_shows_each_role_its_kinds_and_readers_everything(client, officers):
    maker, checker = officers
    account = CreditAccountFactory(fixed_limit=D("10000.00"))
    request = raise_to(account, "16000.00", maker).request
    collector = role_user("Collector", "collector")
    finance = role_user("Finance", "finance")
    auditor = role_user("Auditor", "auditor")
    for user, status, sees in ((checker, 200, True), (finance, 200, False), (auditor, 200, True), (collector, 403, False)):
        client.force_login(user)
        response = client.get(QUEUE_URL)
        assert response.status_code == status, user
        assert (request.reference in response.content.decode()) == sees, user
    client.force_login(auditor)  # reads, never decides
    client.post(QUEUE_URL, {"action": "approve", "_selected_action": [request.pk], "_form_action_apply": "1"})
    request.refresh_from_db()
    assert request.status == "pending"


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_two_checkers_approving_at_once_apply_the_change_once(business_date):
    maker = role_user("Credit officer", "maker")
    checkers = [role_user("Credit officer", f"checker{n}") for n in (1, 2)]
    account = CreditAccountFactory(fixed_limit=D("10000.00"))
    request = raise_to(account, "16000.00", maker).request
    barrier = threading.Barrier(2)
    outcomes: list = []

    def approve(user):
        try:
            barrier.wait()
            approval_approve(approval=request, user=user)
            outcomes.append("approved")
        except ConflictError as exc:
            outcomes.append(exc.code)
        except Exception as exc:  # pragma: no cover - reported below
            outcomes.append(repr(exc))
        finally:
            connection.close()

    threads = [threading.Thread(target=approve, args=(user,)) for user in checkers]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(outcomes) == ["approval_decided", "approved"]
    account.refresh_from_db()
    assert account.fixed_limit == D("16000.00")
    assert LimitChange.objects.filter(account=account).count() == 1
    assert AuditEvent.objects.filter(action="approval_approve").count() == 1
    request.refresh_from_db()
    assert request.status == "approved" and request.checker in checkers


@pytest.mark.django_db
def test_an_import_line_above_the_threshold_waits_and_importing_it_again_queues_nothing(client, officers):
    from tests.factories_staff import csv_bytes, format_index, upload

    maker, checker = officers
    account = CreditAccountFactory(fixed_limit=D("10000.00"))
    rows = [[account.reference, "5000.01", "2026-11-01", "2026-11-11", "Double 11"]]
    client.force_login(maker)
    for run in range(2):
        checked = client.post(reverse("admin:staff_temporarylimitcampaign_import"), {
            "import_file": upload("d11.csv", csv_bytes(["account_reference", "amount", "starts_on", "ends_on", "campaign"], rows)),
            "format": format_index("d11.csv")})
        assert checked.context["report"].ok
        form = checked.context["confirm_form"]
        client.post(reverse("admin:staff_temporarylimitcampaign_process_import"),
                    {key: form.initial[key] for key in ("import_file_name", "original_file_name", "format", "resource")})
        assert ApprovalRequest.objects.filter(kind="accounts.temporary_limit", status="pending").count() == 1, run
        assert not TemporaryLimit.objects.filter(account=account).exists()
    approval_approve(approval=ApprovalRequest.objects.get(), user=checker)
    temp = TemporaryLimit.objects.get(account=account)
    assert (temp.amount, temp.campaign, temp.starts_on) == (D("5000.01"), "Double 11", dt.date(2026, 11, 1))

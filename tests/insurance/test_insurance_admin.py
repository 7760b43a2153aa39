"""Insurance screens per role (issue 16): finance cancels and makes claims, a second finance user approves
a claim in the approvals screen; the other roles are not offered the actions and read what they may."""
from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest
from django.urls import reverse

from approvals.models import ApprovalRequest
from core.business_date import set_business_date
from installments.models import Plan
from installments.services import purchase_authorize
from insurance.models import InsuranceClaim, InsurancePolicy
from staff.roles import ROLES
from tests.factories_installments import SYSTEM, books_clean, money_snapshot, no_risk_checks, open_account  # noqa: F401
from tests.factories_insurance import ensure_insurance_data
from tests.factories_staff import role_user

pytestmark = pytest.mark.django_db
POLICIES = "admin:insurance_insurancepolicy_changelist"


@pytest.fixture
def policy(db):
    ensure_insurance_data()
    set_business_date(dt.date(2026, 1, 5))
    account = open_account(limit="20000.00", opened_on=dt.date(2026, 1, 1))
    purchase = purchase_authorize(account=account, amount=Decimal("6000.00"), merchant_order_id="o-1", tenor=12,
                                  actor=SYSTEM, add_ons=("insurance",))
    return purchase.plan.insurance_policy


EXPECTED = {  # role → (reads the policies, may cancel, may claim, may add products)
    "Credit officer": (False, False, False, False),
    "Finance": (True, True, True, False),
    "Collector": (False, False, False, False),
    "Collections manager": (False, False, False, False),
    "Risk analyst": (False, False, False, False),
    "Auditor": (True, False, False, False),
    "Administrator": (True, False, False, True),
    "Privacy officer": (False, False, False, False),
}


@pytest.mark.parametrize("role", [r.name for r in ROLES])
def test_each_role_gets_exactly_its_insurance_screens_and_actions(client, policy, role):
    reads, cancels, claims, configures = EXPECTED[role]
    user = role_user(role)
    client.force_login(user)

    page = client.get(reverse(POLICIES))

    assert page.status_code == (200 if reads else 403)
    if reads:
        form = page.context["action_form"]  # None when the user is offered no action at all
        actions = dict(form.fields["action"].choices) if form is not None else {}
        assert ("cancel" in actions, "claim" in actions) == (cancels, claims)
    assert user.has_perm("insurance.add_insuranceproduct") is configures
    assert not user.has_perm("insurance.add_insurancepolicy") and not user.has_perm("insurance.change_insurancepolicy")
    assert client.get(reverse("admin:insurance_insuranceproduct_add")).status_code == (200 if configures else 403)


def test_finance_cancels_with_a_reason_and_nothing_moves_without_one(client, policy):
    client.force_login(role_user("Finance"))
    before = money_snapshot()

    client.post(reverse(POLICIES), {"action": "cancel", "_selected_action": [policy.pk], "_form_action_apply": "1",
                                    "reason": ""})
    assert money_snapshot() == before and InsurancePolicy.objects.get().status == "active"
    response = client.post(reverse(POLICIES), {"action": "cancel", "_selected_action": [policy.pk],
                                               "_form_action_apply": "1", "reason": "customer asked"})

    assert response.status_code == 302
    assert InsurancePolicy.objects.get().status == "cancelled"
    books_clean()


def test_a_claim_made_on_the_screen_is_paid_once_a_second_finance_user_approves_it(client, policy):
    maker, checker = role_user("Finance", "maker"), role_user("Finance", "checker")
    client.force_login(maker)
    client.post(reverse(POLICIES), {"action": "claim", "_selected_action": [policy.pk], "_form_action_apply": "1",
                                    "reason": "death", "event_date": "2026-01-05", "note": "death certificate"})
    approval = ApprovalRequest.objects.get(kind="insurance.claim_pay")
    changelist = reverse("admin:approvals_approvalrequest_changelist")
    client.post(changelist, {"action": "approve", "_selected_action": [approval.pk], "_form_action_apply": "1",
                             "note": "mine"})
    assert InsuranceClaim.objects.get().status == "pending"  # the maker cannot approve their own claim

    client.force_login(checker)
    client.post(changelist, {"action": "approve", "_selected_action": [approval.pk], "_form_action_apply": "1",
                             "note": "certificate checked"})

    claim = InsuranceClaim.objects.get()
    assert (claim.status, claim.maker, claim.checker) == ("paid", maker, checker)
    assert Plan.objects.get().status == Plan.Status.CLAIM_PAID
    books_clean()

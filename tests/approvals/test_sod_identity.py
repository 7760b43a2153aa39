"""Issue 23 items 1 and 2 (and the API tokens of item 8), tried as an insider would (PRODUCT §12):

* money-moving API scopes take effect only when a second person of an approving role approves: the
  administrator's client answers 403 ``scope_awaiting_approval`` until then; the maker, another
  administrator, a superuser (alone or in the approving group) and a person of another role cannot
  approve; after a finance approval the call works and its audit row names client, issuer and approver;
* no one sets another user's password: no password fields, the admin's password page of another user
  refused (superusers included), a one-time set-password link mailed to the user's own unique address;
* every credential, role and active-flag change is one catalogued audit event."""
from __future__ import annotations

import datetime as dt
import re
import uuid

import pytest
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group, Permission
from django.core import mail
from django.db import IntegrityError, transaction
from django.urls import reverse
from rest_framework.test import APIClient

from approvals.models import ApprovalRequest
from approvals.services import approval_approve, approval_reject
from cashloans.models import CashLoan
from core.actors import Actor
from core.errors import PermissionDeniedError
from core.models import AuditEvent
from integrations import services
from integrations.models import ApiClient, ApiScopeGrant, ApiToken
from integrations.scope_controls import (
    AUDIT_EVENTS, MONEY_MOVING_SCOPES, PLAIN_SCOPES, REQUEST_PERMISSION, REQUESTER_ROLES, money_scope,
)
from integrations.scopes import all_scopes
from ledger.models import JournalEntry
from staff.credentials import CREDENTIAL_EVENTS
from staff.roles import ROLES
from tests.factories_api import ApiClientFactory, api_for, issue_token
from tests.factories_installments import open_account
from tests.factories_staff import PASSWORD, role_user

pytestmark = pytest.mark.django_db
CARD = "6222020200112233445"
APPROVAL_EVENTS = {"approval_request", "approval_approve", "approval_reject"}


def _approval(grant: ApiScopeGrant) -> ApprovalRequest:
    return ApprovalRequest.objects.get(reference=grant.approval_reference)


def _bearer(raw: str) -> APIClient:
    http = APIClient()
    http.credentials(HTTP_AUTHORIZATION=f"Bearer {raw}")
    return http


def _draw(http, account):
    return http.post("/api/v1/cash-loans/", {"account": account.reference, "amount": "2000.00", "tenor": 3,
                                             "card_number": CARD, "purpose": "travel"},
                     format="json", HTTP_IDEMPOTENCY_KEY=str(uuid.uuid4()))


def _snapshot(client: ApiClient) -> tuple:
    client.refresh_from_db()
    return (list(client.scopes), CashLoan.objects.count(), JournalEntry.objects.count(),
            list(client.scope_grants.values_list("scope", "status", "approved_by")),
            AuditEvent.objects.exclude(action__in=("api_token_issue",)).count())


# --- The catalogue: every scope classified, the roles from one table ---------------------------------------


def test_every_registered_scope_is_classified_money_moving_or_plain():
    registered = set(all_scopes())
    assert registered <= set(MONEY_MOVING_SCOPES) | set(PLAIN_SCOPES), registered - set(MONEY_MOVING_SCOPES) - set(PLAIN_SCOPES)
    assert not set(MONEY_MOVING_SCOPES) & set(PLAIN_SCOPES)
    assert sorted(s for s in registered if s in MONEY_MOVING_SCOPES) == [
        "applications:write", "cash_loans:write", "installments:write", "insurance:write", "purchases:write",
        "refunds:write", "repayments:write", "settlements:write"]


def test_the_roles_in_the_mapping_are_the_roles_that_hold_its_permissions():
    """The mapping names roles; the role groups grant the permissions: they agree, and no role both asks
    for and approves a money-moving scope (administrators never approve)."""
    for spec in MONEY_MOVING_SCOPES.values():
        app_label, codename = spec.approver_permission.split(".")
        assert Permission.objects.filter(content_type__app_label=app_label, codename=codename).exists(), spec
        holders = {r.key for r in ROLES if r.grants(spec.approver_permission)}
        assert holders == set(spec.approver_roles), (spec.scope, holders)
        assert not holders & set(REQUESTER_ROLES)
    assert {r.key for r in ROLES if r.grants(REQUEST_PERMISSION)} == set(REQUESTER_ROLES) == {"administrator"}


def test_the_tokens_each_role_can_obtain(business_date):
    """Per role, tried through the services: who may ask for a money-moving scope (the administrator, as
    maker), who may approve each scope (exactly ``approver_roles``), and so which tokens each can end up
    with: no role obtains a money-moving token alone."""
    business_date("2026-01-05")
    people = {r.key: role_user(r.name, username=f"p-{r.key}") for r in ROLES}
    client = ApiClientFactory(scopes=["accounts:read"])
    asked_by = {}
    for key, user in people.items():
        try:
            with transaction.atomic():
                services.api_scope_request(client=client, scope="repayments:write", actor=Actor.staff(user),
                                           reason="try")
                raise _Rollback
        except _Rollback:
            asked_by[key] = True
        except PermissionDeniedError as exc:
            assert exc.code == "money_scope_request_permission"
            asked_by[key] = False
    assert {k for k, v in asked_by.items() if v} == set(REQUESTER_ROLES)

    maker = people["administrator"]
    approved_by = {}
    for scope, spec in MONEY_MOVING_SCOPES.items():
        grant = services.api_scope_request(client=client, scope=scope, actor=Actor.staff(maker), reason="go-live")
        may = set()
        for key, user in people.items():
            try:
                with transaction.atomic():
                    approval_approve(approval=_approval(grant), user=user)
                    raise _Rollback
            except _Rollback:
                may.add(key)
            except PermissionDeniedError:
                pass
        approved_by[scope] = may
        assert may == set(spec.approver_roles), (scope, may)
        grant.refresh_from_db()
        assert grant.status == "pending" and _approval(grant).status == "pending"
    assert approved_by["repayments:write"] == {"finance"} and approved_by["applications:write"] == {"credit_officer"}
    client.refresh_from_db()
    assert client.scopes == ["accounts:read"]  # nothing granted by any one person


class _Rollback(Exception):
    pass


# --- Item 1: the administrator's cash-loan client waits for a second person ---------------------------------


@pytest.fixture
def account(business_date):
    business_date("2026-01-05")
    return open_account(limit="20000.00", opened_on=dt.date(2026, 1, 1))


def test_administrator_client_with_cash_loans_write_is_403_until_finance_approves(client, account):
    admin = role_user("Administrator", username="admin1", email="admin1@example.com")
    client.force_login(admin)
    response = client.post(reverse("admin:integrations_apiclient_add"), {
        "name": "Mint", "scopes": ["accounts:read", "cash_loans:write"], "throttle_rate": "",
        "reason": "new partner",
    })
    assert response.status_code == 302, response.content[:3000]
    api_client = ApiClient.objects.get(name="Mint")
    grant = api_client.scope_grants.get()
    assert (api_client.scopes, grant.scope, grant.status, grant.requested_by) == (
        ["accounts:read"], "cash_loans:write", "pending", admin)
    approval = _approval(grant)
    assert (approval.kind, approval.status, approval.maker) == ("integrations.api_scope.cash_loans:write", "pending", admin)

    page = client.post(reverse("admin:integrations_apiclient_issue_token", args=[api_client.pk]), {"name": "x"})
    raw = re.search(rb'id="raw-token"[^>]*>(bo_[A-Za-z0-9_-]{43})<', page.content).group(1).decode()
    http = _bearer(raw)

    before = _snapshot(api_client)
    response = _draw(http, account)
    assert response.status_code == 403
    assert response.json()["error"]["code"] == "scope_awaiting_approval"
    assert response.json()["error"]["details"] == {"scopes": ["cash_loans:write"]}
    assert _snapshot(api_client) == before  # no loan, no journal, no audit row
    assert http.get(f"/api/v1/accounts/{account.reference}/").status_code == 200  # its other scope works

    # The maker cannot approve; nor another administrator, nor a superuser, nor a superuser in Finance,
    # nor a credit officer (another role).
    root = get_user_model().objects.create_superuser("root", "root@example.com", None)
    root_in_finance = get_user_model().objects.create_superuser("root2", "root2@example.com", None)
    root_in_finance.groups.add(Group.objects.get(name="Finance"))
    refused = {}
    for who in (admin, role_user("Administrator", username="admin2"), root, root_in_finance,
                role_user("Credit officer", username="officer")):
        with pytest.raises(PermissionDeniedError) as exc:
            approval_approve(approval=approval, user=who)
        refused[who.username] = exc.value.code
    assert refused == {"admin1": "maker_cannot_decide", "admin2": "approval_permission",
                       "root": "scope_approver_not_permitted", "root2": "scope_approver_not_permitted",
                       "officer": "approval_permission"}
    assert _snapshot(api_client)[:4] == before[:4] and _approval(grant).status == "pending"
    assert _draw(http, account).status_code == 403

    # A second person of Finance approves on the approvals screen: the scope is in force.
    finance = role_user("Finance", username="finance1", email="finance1@example.com")
    client.force_login(finance)
    response = client.post(reverse("admin:approvals_approvalrequest_changelist"), {
        "action": "approve", "_selected_action": [approval.pk], "_form_action_apply": "1", "note": "partner vetted",
    })
    assert response.status_code == 302
    grant.refresh_from_db()
    api_client.refresh_from_db()
    assert (grant.status, grant.approved_by, api_client.scopes) == ("approved", finance, ["accounts:read", "cash_loans:write"])
    approve = AuditEvent.objects.get(action="api_scope_approve")
    assert (approve.actor, approve.new["requested_by"], approve.new["approved_by"]) == (finance, "admin1", "finance1")

    response = _draw(http, account)
    assert response.status_code == 201, response.content
    loan = CashLoan.objects.get()
    call = AuditEvent.objects.get(action="api_money_call")
    assert (call.actor, call.actor_rule, call.object_id, call.reason) == (
        None, f"api:{api_client.reference}", str(api_client.pk), "POST /api/v1/cash-loans/")
    assert call.new["client"] == "Mint" and call.new["status"] == 201
    assert (call.new["token"], call.new["token_issued_by"]) == (raw[:11], "admin1")
    assert call.new["scopes"] == [{"scope": "cash_loans:write", "requested_by": "admin1", "approved_by": "finance1",
                                   "request": approval.reference}]
    draw = AuditEvent.objects.get(action="cash_loan_draw", object_id=str(loan.pk))
    assert draw.actor_rule == f"api:{api_client.reference}"


@pytest.mark.parametrize("scope,path", [
    ("repayments:write", "/api/v1/repayments/"),
    ("refunds:write", "/api/v1/purchases/P1/refunds/"),
    ("applications:write", "/api/v1/applications/"),
], ids=["fictitious-repayment", "refund", "open-a-line"])
def test_every_money_moving_call_waits_while_its_scope_waits(account, scope, path):
    admin = role_user("Administrator", username="admin1")
    api_client = services.api_client_create(name="C", scopes=["accounts:read", scope], actor=Actor.staff(admin),
                                            reason="r")
    http = _bearer(issue_token(api_client))
    before = _snapshot(api_client)
    response = http.post(path, {"account": account.reference, "amount": "11332.30"}, format="json",
                         HTTP_IDEMPOTENCY_KEY="k1")
    assert (response.status_code, response.json()["error"]["code"]) == (403, "scope_awaiting_approval")
    assert _snapshot(api_client) == before

    approval_reject(approval=_approval(api_client.scope_grants.get()), user=role_user(
        money_scope(scope).approver_roles[0].replace("_", " ").capitalize(), username="checker"), note="no")
    response = http.post(path, {}, format="json", HTTP_IDEMPOTENCY_KEY="k2")
    assert response.status_code == 403
    # Rejected: asked again from the form, a new request waits (the rejected grant is marked so).
    services.api_client_update(client=api_client, actor=Actor.staff(admin), scopes=["accounts:read", scope],
                               reason="again")
    assert list(api_client.scope_grants.order_by("pk").values_list("status", flat=True)) == ["rejected", "pending"]


def test_the_client_form_shows_a_waiting_scope_ticked_and_saving_it_again_asks_nothing_new(client):
    admin = role_user("Administrator", username="admin1")
    api_client = services.api_client_create(name="C", scopes=["accounts:read", "refunds:write"],
                                            actor=Actor.staff(admin), reason="r")
    client.force_login(admin)
    url = reverse("admin:integrations_apiclient_change", args=[api_client.pk])
    page = client.get(url)
    assert re.search(rb'value="refunds:write"[^>]*checked', page.content)
    response = client.post(url, {"description": "d", "scopes": ["accounts:read", "refunds:write"], "throttle_rate": "",
                                 "reason": "", **{f"{p}-{n}_FORMS": "0" for p in ("scope_grants", "tokens")
                                                  for n in ("TOTAL", "INITIAL")}})
    assert response.status_code == 302, response.content[:2000]
    assert list(api_client.scope_grants.values_list("status", flat=True)) == ["pending"]
    assert ApprovalRequest.objects.count() == 1


def test_a_superuser_alone_cannot_approve_their_own_request():
    root = get_user_model().objects.create_superuser("root", "root@example.com", None)
    root.groups.add(Group.objects.get(name="Finance"))
    api_client = services.api_client_create(name="C", scopes=["repayments:write"], actor=Actor.staff(root),
                                            reason="mine")
    grant = api_client.scope_grants.get()
    with pytest.raises(PermissionDeniedError) as exc:
        approval_approve(approval=_approval(grant), user=root)
    assert exc.value.code == "maker_cannot_decide"
    grant.refresh_from_db()
    api_client.refresh_from_db()
    assert (grant.status, api_client.scopes, _approval(grant).status) == ("pending", [], "pending")


def test_a_system_actor_never_grants_a_money_moving_scope():
    with pytest.raises(PermissionDeniedError) as exc:
        services.api_client_create(name="Bench", scopes=["repayments:write"], actor=Actor.system("seed"))
    assert exc.value.code == "money_scope_needs_person"
    assert not ApiClient.objects.exists() and not ApprovalRequest.objects.exists()


def test_a_money_scope_written_onto_the_client_without_an_approved_grant_does_not_work(account):
    """The scopes field alone is not trusted: a money-moving scope needs its approved grant."""
    api_client = ApiClientFactory(scopes=["accounts:read"])
    ApiClient.objects.filter(pk=api_client.pk).update(scopes=["accounts:read", "cash_loans:write"])
    http = _bearer(issue_token(api_client))
    response = _draw(http, account)
    assert (response.status_code, response.json()["error"]["code"]) == (403, "permission_denied")
    assert not CashLoan.objects.exists()


def test_removing_an_approved_scope_revokes_it_at_once_and_a_withdrawn_request_cannot_be_approved(account):
    http, api_client, _ = api_for(["accounts:read", "cash_loans:write"])
    admin = get_user_model().objects.get(username="api-scope-maker")
    services.api_client_update(client=api_client, actor=Actor.staff(admin), scopes=["accounts:read"])
    api_client.refresh_from_db()
    assert api_client.scopes == ["accounts:read"]
    assert list(api_client.scope_grants.values_list("status", flat=True)) == ["revoked"]
    assert _draw(http, account).status_code == 403
    assert AuditEvent.objects.filter(action="api_scope_revoke", object_id=str(api_client.pk)).count() == 1

    services.api_client_update(client=api_client, actor=Actor.staff(admin), scopes=["accounts:read", "cash_loans:write"],
                               reason="back")
    waiting = api_client.scope_grants.get(status="pending")
    services.api_client_update(client=api_client, actor=Actor.staff(admin), scopes=["accounts:read"])
    waiting.refresh_from_db()
    assert waiting.status == "withdrawn"
    with pytest.raises(Exception) as exc:
        approval_approve(approval=_approval(waiting), user=role_user("Finance", username="f2"))
    assert exc.value.code == "grant_not_pending"
    api_client.refresh_from_db()
    assert api_client.scopes == ["accounts:read"]


def test_the_factories_grant_money_scopes_through_two_people(account):
    http, api_client, _ = api_for(["repayments:write", "accounts:read"])
    grant = api_client.scope_grants.get()
    assert (grant.status, grant.requested_by.username, grant.approved_by.username) == (
        "approved", "api-scope-maker", "api-scope-approver-finance")
    assert _approval(grant).status == "approved"


def test_rotating_a_token_stops_the_old_one_and_is_one_audit_event(account):
    admin = role_user("Administrator", username="admin1")
    http, api_client, raw = api_for(["accounts:read"])
    token = ApiToken.objects.get(client=api_client)
    new, new_raw = services.api_token_rotate(token=token, actor=Actor.staff(admin), reason="leaked")
    assert _bearer(raw).get(f"/api/v1/accounts/{account.reference}/").status_code == 401
    assert _bearer(new_raw).get(f"/api/v1/accounts/{account.reference}/").status_code == 200
    event = AuditEvent.objects.get(action="api_token_rotate")
    assert (event.actor, event.old, event.new) == (admin, {"token": raw[:11]}, {"token": new.prefix})


# --- Item 2: no one sets another user's password ----------------------------------------------------------


@pytest.fixture
def admin_client(client):
    admin = role_user("Administrator", username="admin1", email="admin1@example.com")
    client.force_login(admin)
    client.user = admin
    return client


def _link(message) -> str:
    return re.search(r"https?://\S+/set-password/\S+/", message.body).group(0)


def test_the_add_user_form_has_no_password_and_the_link_goes_to_the_users_own_mailbox_only(admin_client):
    page = admin_client.get(reverse("admin:auth_user_add"))
    assert page.status_code == 200
    assert b'name="password1"' not in page.content and b'name="password2"' not in page.content

    response = admin_client.post(reverse("admin:auth_user_add"), {
        "username": "finance2", "email": "Li.Na@example.com", "first_name": "Na", "last_name": "Li",
        "password1": "Chosen-by-admin-1", "password2": "Chosen-by-admin-1",  # ignored: not fields of the form
    }, follow=True)
    assert response.status_code == 200
    user = get_user_model().objects.get(username="finance2")
    assert (user.is_staff, user.has_usable_password(), user.email) == (True, False, "Li.Na@example.com")
    assert len(mail.outbox) == 1 and mail.outbox[0].to == ["Li.Na@example.com"]
    link = _link(mail.outbox[0])
    token = link.rstrip("/").rsplit("/", 1)[1]
    assert token.encode() not in response.content  # the administrator never sees the link
    assert list(AuditEvent.objects.filter(object_type="auth.user", object_id=str(user.pk))
                .order_by("pk").values_list("action", "actor")) == [
        ("role_change", admin_client.user.pk), ("staff_user_create", admin_client.user.pk),
        ("password_link_issue", admin_client.user.pk)]


def test_the_set_password_link_works_once(client, admin_client):
    admin_client.post(reverse("admin:auth_user_add"), {"username": "newbie", "email": "newbie@example.com"})
    user = get_user_model().objects.get(username="newbie")
    link = _link(mail.outbox[0])
    admin_client.logout()

    page = client.get(link, follow=True)
    assert page.status_code == 200 and b'name="new_password1"' in page.content
    form_url = page.redirect_chain[-1][0]
    response = client.post(form_url, {"new_password1": "My-own-choice-42", "new_password2": "My-own-choice-42"})
    assert response.status_code == 302 and response["Location"] == reverse("admin:login")
    user.refresh_from_db()
    assert user.check_password("My-own-choice-42")
    use = AuditEvent.objects.get(action="password_link_use")
    assert (use.actor, use.object_id) == (user, str(user.pk))

    again = client.get(link, follow=True)
    assert b'name="new_password1"' not in again.content  # spent: "The password reset link was invalid"
    response = client.post(form_url, {"new_password1": "Someone-else-43", "new_password2": "Someone-else-43"})
    user.refresh_from_db()
    assert user.check_password("My-own-choice-42")
    assert AuditEvent.objects.filter(action__in=("password_link_use", "password_change")).count() == 1


def test_the_administrator_cannot_set_finance_password_through_the_admin(admin_client):
    finance = role_user("Finance", username="finance", password=PASSWORD, email="finance@example.com")
    before = (get_user_model().objects.get(pk=finance.pk).password, AuditEvent.objects.count())
    change = admin_client.get(reverse("admin:auth_user_change", args=[finance.pk]))
    assert change.status_code == 200
    url = reverse("admin:auth_user_password_change", args=[finance.pk])
    assert b'name="password"' not in change.content and b"../password/" not in change.content
    assert url.encode() not in change.content
    assert admin_client.get(url).status_code == 403
    response = admin_client.post(url, {"password1": "Taken-over-9876", "password2": "Taken-over-9876",
                                       "usable_password": "true", "set-password": "1"})
    assert response.status_code == 403
    # The change form ignores a password and, finance having set theirs, an email posted to redirect links.
    admin_client.post(reverse("admin:auth_user_change", args=[finance.pk]), {
        "username": "finance", "email": "mine@example.com", "password": "x", "is_active": "on", "is_staff": "on",
        "date_joined_0": "2026-01-01", "date_joined_1": "00:00:00",
    })
    finance.refresh_from_db()
    assert (finance.password, finance.email) == (before[0], "finance@example.com")
    assert finance.check_password(PASSWORD)
    assert not AuditEvent.objects.filter(action__in=("password_change", "email_change")).exists()


def test_a_superuser_cannot_set_another_password_either_but_anyone_changes_their_own(client):
    root = get_user_model().objects.create_superuser("root", "root@example.com", PASSWORD)
    finance = role_user("Finance", username="finance", password=PASSWORD, email="finance@example.com")
    client.force_login(root)
    assert client.post(reverse("admin:auth_user_password_change", args=[finance.pk]),
                       {"password1": "Taken-over-9876", "password2": "Taken-over-9876"}).status_code == 403
    finance.refresh_from_db()
    assert finance.check_password(PASSWORD)
    own = client.get(reverse("admin:auth_user_password_change", args=[root.pk]))
    assert own.status_code == 302 and own["Location"] == reverse("admin:password_change")
    response = client.post(reverse("admin:password_change"), {
        "old_password": PASSWORD, "new_password1": "Root-new-choice-77", "new_password2": "Root-new-choice-77"})
    assert response.status_code == 302
    event = AuditEvent.objects.get(action="password_change")
    assert (event.actor, event.object_id) == (root, str(root.pk))


def test_one_person_one_login_the_email_is_unique_whatever_the_case(admin_client):
    role_user("Finance", username="finance", email="finance@example.com")
    response = admin_client.post(reverse("admin:auth_user_add"), {"username": "finance_b", "email": "FINANCE@example.com"})
    assert response.status_code == 200 and b"Another login already uses this email address" in response.content
    response = admin_client.post(reverse("admin:auth_user_add"), {"username": "nomail", "email": ""})
    assert response.status_code == 200
    assert not get_user_model().objects.filter(username__in=["finance_b", "nomail"]).exists()
    assert not mail.outbox
    with pytest.raises(IntegrityError), transaction.atomic():
        get_user_model().objects.create_user("sneaky", email="Finance@Example.com")


def test_role_active_and_credential_changes_are_catalogued_audit_events(client):
    root = get_user_model().objects.create_superuser("root", "root@example.com", None)
    client.force_login(root)
    client.post(reverse("admin:auth_user_add"), {"username": "newbie", "email": "nb@example.com"})
    user = get_user_model().objects.get(username="newbie")
    # Before the first password: the mistyped address may still be corrected (audited), and a link re-sent.
    client.post(reverse("admin:auth_user_change", args=[user.pk]), {
        "username": "newbie", "email": "newbie@example.com", "is_active": "on", "is_staff": "on",
        "groups": [Group.objects.get(name="Finance").pk], "date_joined_0": "2026-01-01", "date_joined_1": "00:00:00",
    })
    client.post(reverse("admin:auth_user_changelist"), {
        "action": "send_password_links", "_selected_action": [user.pk], "_form_action_apply": "1", "reason": "new address",
    })
    client.post(reverse("admin:auth_user_change", args=[user.pk]), {
        "username": "newbie", "email": "newbie@example.com", "is_staff": "on",
        "groups": [Group.objects.get(name="Finance").pk], "date_joined_0": "2026-01-01", "date_joined_1": "00:00:00",
    })
    events = list(AuditEvent.objects.filter(object_type="auth.user", object_id=str(user.pk)).order_by("pk")
                  .values_list("action", "old", "new"))
    actions = [a for a, _, _ in events]
    assert actions == ["role_change", "staff_user_create", "password_link_issue", "email_change", "role_change",
                       "password_link_issue", "role_change"], events
    assert events[3][1:] == ({"email": "n***@example.com"}, {"email": "n***@example.com"})
    assert events[4][1:] == ({"groups": []}, {"groups": ["Finance"]})
    assert (events[6][1]["is_active"], events[6][2]["is_active"]) == (True, False)
    assert mail.outbox[-1].to == ["newbie@example.com"]
    assert set(actions) <= set(CREDENTIAL_EVENTS)


def test_every_audit_action_of_these_flows_is_catalogued(account):
    http, api_client, _ = api_for(["cash_loans:write", "accounts:read"])
    assert _draw(http, account).status_code == 201
    integration_actions = set(AuditEvent.objects.filter(object_type="integrations.apiclient")
                              .values_list("action", flat=True))
    assert integration_actions == {"api_scope_request", "api_scope_approve", "api_token_issue", "api_money_call"}
    assert integration_actions <= set(AUDIT_EVENTS)
    assert set(AuditEvent.objects.filter(object_type="approvals.approvalrequest")
               .values_list("action", flat=True)) <= APPROVAL_EVENTS

"""Roles with least privilege: the groups, how they stay in sync, and per role what it can and
cannot open or do in the admin and the API (staff/PERMISSIONS.md is the same matrix for people)."""
from __future__ import annotations

from decimal import Decimal

import pytest
from django.contrib.auth.models import Group, Permission
from django.contrib.contenttypes.models import ContentType
from django.urls import reverse

from accounts.models import CreditAccount
from staff import roles
from tests.factories import CreditAccountFactory
from tests.factories_staff import csv_bytes, role_user, upload

ROLE_NAMES = [r.name for r in roles.ROLES]


def perms_of(name: str) -> set[str]:
    return {f"{p.content_type.app_label}.{p.codename}"
            for p in Group.objects.get(name=name).permissions.select_related("content_type")}


# --- the groups -------------------------------------------------------------------------------


def test_the_data_migration_and_the_role_list_name_the_same_groups(db):
    import importlib

    migrations = ("0002_role_groups", "0005_perms_privacy_officer_group")
    names = [n for m in migrations for n in importlib.import_module(f"staff.migrations.{m}").ROLE_NAMES]
    assert names == ROLE_NAMES
    assert sorted(Group.objects.filter(name__in=ROLE_NAMES).values_list("name", flat=True)) == sorted(ROLE_NAMES)


def test_auditor_holds_view_permissions_only_and_no_unmasking(db):
    granted = perms_of("Auditor")
    assert granted and all(p.split(".")[1].startswith("view_") for p in granted)
    assert "accounts.view_full_pii" not in granted
    every_view = {f"{p.content_type.app_label}.{p.codename}" for p in Permission.objects.select_related("content_type")
                  if p.codename.startswith("view_") and p.content_type.app_label != "sessions"}
    assert granted == every_view - {"accounts.view_full_pii"}


@pytest.mark.parametrize(
    "role, has, has_not",
    [
        ("Credit officer", {"accounts.adjust_limit", "accounts.freeze_account", "accounts.import_customer",
                            "staff.import_temporarylimitcampaign", "accounts.view_full_pii"},
         {"accounts.close_account", "staff.import_bankrepaymentfile", "auth.change_user", "staff.view_dashboard"}),
        ("Finance", {"staff.import_bankrepaymentfile", "staff.import_storefrontorderimport", "staff.export_statementexport",
                     "staff.export_repaymentexport", "staff.view_dashboard"},
         {"accounts.freeze_account", "accounts.adjust_limit", "accounts.view_full_pii", "accounts.import_customer"}),
        ("Collector", {"collections.work_case", "collections.add_contactattempt", "collections.add_promisetopay"},
         {"collections.manage_cases", "staff.view_dashboard", "accounts.view_full_pii", "accounts.change_creditaccount"}),
        ("Collections manager", {"collections.manage_cases", "collections.view_performance",
                                 "staff.export_collectionassignmentexport", "staff.export_overdueaccount"},
         {"collections.delete_collectioncase", "staff.import_bankrepaymentfile", "accounts.view_full_pii"}),
        ("Risk analyst", {"risk.change_riskrule", "risk.activate_scorecardversion", "staff.view_dashboard",
                          "staff.export_overdueaccount"},
         {"risk.delete_riskrule", "risk.work_reviewcase", "accounts.adjust_limit", "staff.import_bankrepaymentfile"}),
        ("Administrator", {"auth.add_user", "auth.change_user", "accounts.change_creditproduct",
                           "privacy.change_privacypolicy", "cob.rerun_cobrun", "integrations.add_apiclient",
                           "integrations.change_apiclient", "integrations.change_apitoken"},
         {"staff.import_bankrepaymentfile", "accounts.freeze_account", "accounts.view_full_pii", "auth.change_permission",
          "auth.add_group", "auth.change_group", "auth.delete_group", "axes.delete_accessattempt",
          "axes.delete_accesslog", "installments.install_statement"}),
        ("Privacy officer", {"privacy.add_datasubjectrequest", "privacy.change_datasubjectrequest",
                             "privacy.export_personal_data", "accounts.close_account", "accounts.view_all_customers"},
         {"accounts.view_full_pii", "accounts.adjust_limit", "privacy.change_privacypolicy",
          "privacy.delete_datasubjectrequest", "installments.install_statement"}),
        ("Collector", {"accounts.view_customer"}, {"accounts.view_all_customers", "installments.install_statement"}),
    ],
)
def test_each_role_holds_what_its_work_needs_and_nothing_it_does_not(db, role, has, has_not):
    granted = perms_of(role)
    assert has <= granted, has - granted
    assert not (has_not & granted), has_not & granted


def test_sync_removes_a_permission_added_by_hand_and_is_idempotent(db):
    finance = Group.objects.get(name="Finance")
    freeze = Permission.objects.get(codename="freeze_account")
    finance.permissions.add(freeze)
    changes = roles.roles_sync()
    assert changes["Finance"] == (0, 1)
    assert "accounts.freeze_account" not in perms_of("Finance")
    assert set(roles.roles_sync().values()) == {(0, 0)}


def test_sync_includes_the_permissions_of_models_added_later(db):
    """A new app's model: after the next migrate (post_migrate → roles_sync) the auditor may view it,
    the collector may not."""
    from django.core.management import call_command

    ct = ContentType.objects.create(app_label="newapp", model="thing")
    Permission.objects.create(content_type=ct, codename="view_thing", name="Can view thing")
    Permission.objects.create(content_type=ct, codename="change_thing", name="Can change thing")
    call_command("sync_roles", stdout=open("/dev/null", "w"))
    assert "newapp.view_thing" in perms_of("Auditor") and "newapp.change_thing" not in perms_of("Auditor")
    assert not {p for p in perms_of("Collector") if p.startswith("newapp.")}


def test_the_matrix_command_prints_every_granted_permission(db, capsys):
    from django.core.management import call_command

    call_command("sync_roles", "--matrix")
    out = capsys.readouterr().out
    assert out.startswith("| permission | Credit officer | Finance |")
    assert "| `staff.import_bankrepaymentfile` |  | ✔ |" in out


# --- the admin, role by role ------------------------------------------------------------------

OPEN = {
    "Credit officer": ["accounts_customer_changelist", "accounts_creditaccount_changelist", "accounts_customer_import",
                       "staff_temporarylimitcampaign_import", "risk_reviewcase_changelist", "accounts_customer_add"],
    "Finance": ["staff_bankrepaymentfile_import", "staff_storefrontorderimport_import", "staff_statementexport_export",
                "staff_repaymentexport_export", "staff_scheduleexport_export", "accounts_creditaccount_changelist"],
    "Collector": ["collections_collectioncase_changelist", "accounts_customer_changelist"],
    "Collections manager": ["collections_collectioncase_changelist", "staff_overdueaccount_export",
                            "staff_collectionassignmentexport_export", "collections_agency_changelist"],
    "Risk analyst": ["risk_riskrule_changelist", "staff_overdueaccount_changelist", "staff_portfoliosnapshot_changelist",
                     "accounts_creditaccount_changelist"],
    "Auditor": ["accounts_customer_changelist", "staff_bankrepaymentfile_changelist", "staff_importjob_changelist",
                "auth_user_changelist", "core_auditevent_changelist", "collections_agency_changelist"],
    "Administrator": ["auth_user_changelist", "auth_group_changelist", "accounts_creditproduct_add",
                      "accounts_customer_changelist", "integrations_apiclient_add"],
    "Privacy officer": ["privacy_datasubjectrequest_changelist", "privacy_datasubjectrequest_add",
                        "accounts_customer_changelist", "accounts_creditaccount_changelist"],
}
REFUSED = {
    "Credit officer": ["staff_bankrepaymentfile_import", "auth_user_changelist", "staff_repaymentexport_export",
                       "staff_overdueaccount_export"],
    "Finance": ["accounts_customer_import", "staff_temporarylimitcampaign_import", "auth_user_changelist",
                "accounts_customer_add"],
    "Collector": ["staff_bankrepaymentfile_import", "accounts_customer_import", "staff_overdueaccount_export",
                  "auth_user_changelist", "staff_importjob_changelist"],
    "Collections manager": ["staff_bankrepaymentfile_import", "accounts_customer_import", "auth_user_changelist"],
    "Risk analyst": ["staff_bankrepaymentfile_import", "accounts_customer_import", "auth_user_changelist",
                     "accounts_customer_add"],
    "Auditor": ["staff_bankrepaymentfile_import", "accounts_customer_import", "accounts_customer_export",
                "staff_statementexport_export", "accounts_customer_add", "auth_user_add"],
    "Administrator": ["staff_bankrepaymentfile_import", "accounts_customer_import", "staff_repaymentexport_export",
                      "auth_group_add"],
    "Privacy officer": ["staff_bankrepaymentfile_import", "accounts_customer_import", "auth_user_changelist",
                        "accounts_customer_add", "staff_overdueaccount_changelist"],
}
DASHBOARD = {"Credit officer": False, "Finance": True, "Collector": False, "Collections manager": True,
             "Risk analyst": True, "Auditor": True, "Administrator": True, "Privacy officer": False}
ACCOUNT_ACTIONS = {
    "Credit officer": {"adjust_limit", "grant_temporary_limit", "freeze", "unfreeze"},
    "Finance": set(), "Collector": set(), "Collections manager": set(), "Risk analyst": set(), "Auditor": set(),
    "Administrator": set(), "Privacy officer": {"close"},
}


def _role_client(client, role):
    user = role_user(role)
    client.force_login(user)
    return user


@pytest.mark.parametrize("role", ROLE_NAMES)
def test_what_each_role_can_and_cannot_open_in_the_admin(client, business_date, role):
    _role_client(client, role)
    for name in OPEN[role]:
        assert client.get(reverse(f"admin:{name}")).status_code == 200, (role, name)
    for name in REFUSED[role]:
        assert client.get(reverse(f"admin:{name}")).status_code in (302, 403), (role, name)
    home = client.get(reverse("admin:index")).content.decode()
    assert ('id="dashboard"' in home) is DASHBOARD[role]
    for name in REFUSED[role]:  # no link to a refused screen on the home page
        if name.endswith("_changelist"):
            assert reverse(f"admin:{name}") not in home, (role, name)


@pytest.mark.parametrize("role", ROLE_NAMES)
def test_each_role_sees_only_its_actions_and_the_server_refuses_the_others(client, business_date, role):
    _role_client(client, role)
    account = CreditAccountFactory()
    url = reverse("admin:accounts_creditaccount_changelist")
    page = client.get(url).content.decode()
    offered = {a for a in ("adjust_limit", "grant_temporary_limit", "freeze", "unfreeze", "close") if f'value="{a}"' in page}
    assert offered == ACCOUNT_ACTIONS[role]
    if "freeze" not in offered:  # a hand-made request for it changes nothing
        client.post(url, {"action": "freeze", "_selected_action": [account.pk], "_form_action_apply": "1",
                          "reason": "forged"})
        assert CreditAccount.objects.get(pk=account.pk).status == "active"
        assert not account.status_changes.exists()


@pytest.mark.parametrize("role", [r for r in ROLE_NAMES if r != "Finance"])
def test_an_import_posted_by_a_role_without_the_permission_is_refused_and_posts_nothing(client, business_date, role):
    from installments.models import Repayment

    _role_client(client, role)
    account = CreditAccountFactory()
    content = csv_bytes(["date", "account_reference", "amount", "bank_reference"], [["2026-01-05", account.reference, "10", "F1"]])
    response = client.post(reverse("admin:staff_bankrepaymentfile_import"), {"import_file": upload("f.csv", content), "format": "0"})
    assert response.status_code == 403
    response = client.post(reverse("admin:staff_bankrepaymentfile_process_import"),
                           {"import_file_name": "x", "original_file_name": "f.csv", "format": "0", "resource": ""})
    assert response.status_code == 403
    assert not Repayment.objects.exists()


# --- the API, role by role --------------------------------------------------------------------


@pytest.mark.parametrize("role", ROLE_NAMES)
def test_every_role_may_read_the_api_with_its_session_and_none_may_write(client, business_date, role):
    """The integration API is the storefront's (tokens with scopes). Staff sessions may read; writes
    need ``integrations.call_write_api``, which no role holds (money moves through the admin's
    screens and their services). A collector reads only their own cases' customers, in the admin:
    the API (any customer by reference) is refused to them."""
    from installments.models import Repayment

    user = _role_client(client, role)
    assert not user.has_perm("integrations.call_write_api")
    account = CreditAccountFactory()
    read = client.get(f"/api/v1/accounts/{account.reference}/")
    if role == "Collector":
        assert read.status_code == 403 and read.json()["error"]["code"] == "permission_denied"
    else:
        assert read.status_code == 200 and read.json()["id"] == account.reference
    write = client.post("/api/v1/repayments/", {"account_id": account.reference, "amount": "10.00",
                                                 "external_ref": f"api-{role}", "channel": "bank_transfer"},
                        content_type="application/json", HTTP_IDEMPOTENCY_KEY=f"k-{role}")
    assert write.status_code == 403
    assert write.json()["error"]["code"] == "permission_denied"
    assert not Repayment.objects.exists()
    assert CreditAccount.objects.get(pk=account.pk).used_amount == Decimal("0.00")


def test_without_a_session_the_api_answers_401(client, db):
    account = CreditAccountFactory()
    assert client.get(f"/api/v1/accounts/{account.reference}/").status_code == 401

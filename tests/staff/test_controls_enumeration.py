"""Every admin action, add/change/delete view, custom admin URL and API write, for every role.

Built from the live URL conf: ``admin.site._registry`` (each ModelAdmin's actions and ``get_urls()``)
and the API's URL patterns (``get_resolver()``). For each role group of ``staff/roles.py`` and a staff
user with no group, every one of them is attempted and must be refused unless the role's permissions
allow it; a refused attempt changes nothing (no row of any table added or removed, the target row as
it was).

The lists below declare which permission each action and custom URL needs. A newly registered action
that is not listed, or that asks for no permission beyond view, fails this suite; so does a custom
admin URL or an API write nobody declared.

One world for the module (built once in a transaction rolled back at the end): a small portfolio
through the services, one row for every other registered model, one user per role.
"""
from __future__ import annotations

import re
from dataclasses import dataclass

import pytest
from django.apps import apps
from django.contrib import admin
from django.contrib.auth import get_user_model
from django.db import connection, transaction
from django.test import RequestFactory
from django.urls import URLResolver, get_resolver, reverse

from approvals.registry import registered_kinds
from staff import roles

pytestmark = pytest.mark.django_db  # the module's world lives in the test database

NO_ROLE = "No role (staff only)"
ROLE_NAMES = [r.name for r in roles.ROLES]
SUBJECTS = [*ROLE_NAMES, NO_ROLE]

READ_ONLY = "read-only"  # an action that changes nothing (it reports to the user): the screen suffices
NOBODY = "nobody"  # refused to everyone, superusers included

#: Every admin action besides Django's "delete selected" (which needs the model's delete permission).
#: Deciding an approval request needs the permission of the request's kind: any of these (each app
#: registers its kinds with the permission that makes and decides them).
DECIDE_ANY = tuple(sorted({kind.permission for kind in registered_kinds().values()}))  # issue 23: every kind

ACTIONS: dict[tuple[str, str], str | tuple[str, ...]] = {
    ("accounts.creditaccount", "adjust_limit"): "accounts.adjust_limit",
    ("accounts.creditaccount", "grant_temporary_limit"): "accounts.adjust_limit",
    ("accounts.creditaccount", "freeze"): "accounts.freeze_account",
    ("accounts.creditaccount", "unfreeze"): "accounts.freeze_account",
    ("accounts.creditaccount", "close"): "accounts.close_account",
    ("installments.purchase", "refund"): "installments.refund_purchase",
    ("installments.purchase", "approve_held"): "installments.review_purchase",
    ("installments.purchase", "decline_held"): "installments.review_purchase",
    ("installments.plan", "quote_settlement"): READ_ONLY,
    ("installments.plan", "settle"): "installments.settle_plan",
    ("cashloans.cashloan", "quote_settlement"): READ_ONLY,
    ("cashloans.cashloan", "settle"): "installments.settle_plan",
    ("installments.statement", "install"): "installments.install_statement",
    ("installments.repayment", "reverse"): "installments.reverse_repayment",
    ("risk.scorecardversion", "activate"): "risk.activate_scorecardversion",
    ("risk.scorecardversion", "retire"): "risk.activate_scorecardversion",
    ("risk.blacklistentry", "deactivate"): "risk.change_blacklistentry",
    ("risk.reviewcase", "approve"): "risk.work_reviewcase",
    ("risk.reviewcase", "decline"): "risk.work_reviewcase",
    ("risk.riskevent", "mark_reviewed"): "risk.work_reviewcase",
    ("risk.campaign", "preview"): "risk.change_campaign",
    ("risk.campaign", "grant"): "risk.grant_campaign",
    ("collections.collectioncase", "assign"): "collections.manage_cases",
    ("collections.collectioncase", "recall"): "collections.manage_cases",
    ("collections.collectioncase", "close_settled"): "collections.manage_cases",
    ("collections.agency", "record_evaluation"): "collections.change_agency",
    ("cob.cobrun", "rerun_failed"): "cob.rerun_cobrun",
    ("integrations.apiclient", "revoke_clients"): "integrations.change_apiclient",
    ("integrations.apitoken", "revoke_tokens"): "integrations.change_apitoken",
    ("auth.user", "send_password_links"): "auth.change_user",
    ("installments.statement", "waive_fees"): "installments.waive_fee",
    ("approvals.approvalrequest", "approve"): DECIDE_ANY,
    ("approvals.approvalrequest", "reject"): DECIDE_ANY,
    ("bureau.bureaufile", "reissue"): "bureau.reissue_bureaufile",
    ("bureau.bureausnapshot", "dispute"): "bureau.answer_bureaudispute",
    ("bureau.bureaudispute", "answer"): "bureau.answer_bureaudispute",
    ("bureau.prenoticeletter", "mark_sent"): "bureau.mark_sent_prenoticeletter",
    ("privacy.loginlockout", "unlock"): "privacy.unlock_loginlockout",
    ("insurance.insurancepolicy", "cancel"): "insurance.cancel_policy",
    ("insurance.insurancepolicy", "claim"): "insurance.pay_claim",
}


def holds(user, required: str | tuple[str, ...]) -> bool:
    """``required`` is one permission, or a tuple of which any one will do."""
    return any(user.has_perm(p) for p in required) if isinstance(required, tuple) else user.has_perm(required)

#: Screens whose add view needs another permission than ``<app>.add_<model>``.
ADD_PERMISSIONS = {"installments.repayment": "installments.post_repayment", "installments.waiver": "installments.waive_fee",
                   "installments.writeoff": "installments.write_off_account"}

#: Security logs: nobody deletes or changes them from the admin, superusers included.
SECURITY_LOGS = ("axes.accessattempt", "axes.accesslog", "axes.accessfailurelog", "core.auditevent",
                 "privacy.piiaccesslog")


def _first(model_label: str):
    return apps.get_model(model_label)._default_manager.order_by("pk").first()


def _pk(model_label: str):
    return lambda world: [_first(model_label).pk]


#: Custom admin URLs (``get_urls``): the permission(s) each needs (all of them) and its arguments.
CUSTOM_URLS: dict[str, tuple[str | tuple[str, ...], object]] = {
    "auth_user_password_change": ("auth.change_user", lambda world: [world.users[NO_ROLE].pk]),
    "collections_performance": ("collections.view_performance", lambda world: []),
    "collections_collectioncase_cancel_promise": (
        "collections.work_case",
        lambda world: [_first("collections.promisetopay").case_id, _first("collections.promisetopay").pk],
    ),
    "integrations_apiclient_issue_token": ("integrations.change_apiclient", _pk("integrations.apiclient")),
    "integrations_apitoken_rotate": ("integrations.change_apitoken", _pk("integrations.apitoken")),
    "privacy_datasubjectrequest_start": ("privacy.change_datasubjectrequest", _pk("privacy.datasubjectrequest")),
    "privacy_datasubjectrequest_export": (("privacy.change_datasubjectrequest", "privacy.export_personal_data"),
                                          _pk("privacy.datasubjectrequest")),
    "privacy_datasubjectrequest_correct": ("privacy.change_datasubjectrequest", _pk("privacy.datasubjectrequest")),
    "privacy_datasubjectrequest_erase": ("privacy.change_datasubjectrequest", _pk("privacy.datasubjectrequest")),
    "privacy_datasubjectrequest_reject": ("privacy.change_datasubjectrequest", _pk("privacy.datasubjectrequest")),
    "privacy_unmask": ("accounts.view_full_pii", _pk("accounts.customer")),
    "staff_importjob_progress": ("staff.view_importjob", _pk("staff.importjob")),
    "staff_importjob_confirm": (("staff.view_importjob", "staff.import_bankrepaymentfile"), _pk("staff.importjob")),
    "collections_caseassignment_export": ("collections.manage_cases", lambda world: []),
    "collections_today": ("collections.work_case", lambda world: []),
    "collections_collectioncase_call": ("collections.work_case", _pk("collections.collectioncase")),
    "collections_collectioncase_payment_link": ("collections.work_case", _pk("collections.collectioncase")),
    "accounts_creditaccount_act": ("accounts.freeze_account", lambda world: [_first("accounts.creditaccount").pk, "freeze"]),
    "bureau_bureaufile_download": (("bureau.download_bureaufile", "accounts.view_full_pii"), _pk("bureau.bureaufile")),
}

#: Custom URLs named by a library, by suffix: the permission from the model.
def _library_url(name: str, model) -> tuple[str | tuple[str, ...], object] | None:
    opts = model._meta
    prefix = f"{opts.app_label}_{opts.model_name}_"
    suffix = name[len(prefix):] if name.startswith(prefix) else ""
    if suffix in ("import", "process_import"):
        return f"{opts.app_label}.import_{opts.model_name}", lambda world: []
    if suffix == "import_template":
        return f"{opts.app_label}.import_{opts.model_name}", lambda world: ["csv"]
    if suffix == "export":
        return f"{opts.app_label}.export_{opts.model_name}", lambda world: []
    if suffix == "simple_history":  # an old version: read with the screen, never saved back
        def args(world):
            record = model.history.order_by("history_id").first()
            return [record.pk, record.history_id]
        return NOBODY, args
    return None


#: The permission a staff session needs for any API write (scopes are for tokens).
API_WRITE_PERMISSION = "integrations.call_write_api"
#: API views that are no operation (the JSON 404 for any unknown path).
API_NOT_OPERATIONS = {"not_found"}

FORGED = {
    "_form_action_apply": "1", "reason": "forged", "note": "forged", "new_limit": "1.00", "amount": "10.00",
    "limit": "100.00", "starts_on": "2026-01-05", "ends_on": "2026-01-31", "campaign": "forged", "tenor": "3",
    "excess_to": "credit_balance", "external_ref": "forged", "evaluated_on": "2026-01-05",
}


# --- the world -----------------------------------------------------------------------------------


@dataclass
class World:
    users: dict
    superuser: object


def _registered():
    return sorted(admin.site._registry.items(), key=lambda item: item[0]._meta.label_lower)


@pytest.fixture(scope="module")
def world(django_db_setup, django_db_blocker):
    from tests.factories_staff import role_user
    from tests.staff.test_staff_changelists import build_world, make_one

    with django_db_blocker.unblock(), transaction.atomic():
        with pytest.MonkeyPatch.context() as mp:
            from installments import hooks

            mp.setattr(hooks, "_purchase_checks", {})
            build_world()
        for model, _ in _registered():
            if not model._default_manager.exists():
                make_one(model)
        for model, _ in _registered():  # a version for every history page
            if hasattr(getattr(model, "history", None), "exists") and not model.history.exists():  # not a field named history
                model._default_manager.order_by("pk").first().save()
        from staff.models import ImportJob

        ImportJob.objects.update(kind="bank_repayments")
        from accounts.models import CreditProduct

        product = CreditProduct.objects.order_by("pk").first()  # a version in the history
        product.name = f"{product.name} (v2)"
        product.save()
        users = {name: role_user(name, username=f"u{i}") for i, name in enumerate(ROLE_NAMES)}
        users[NO_ROLE] = get_user_model().objects.create_user("plain", is_staff=True)
        superuser = get_user_model().objects.create_superuser("root", password=None)
        yield World(users=users, superuser=superuser)
        transaction.set_rollback(True)


def _tables() -> list[str]:
    tables = {m._meta.db_table for m in apps.get_models(include_auto_created=True)
              if m._meta.managed and not m._meta.proxy}
    return sorted(tables - {"django_session"})


def fingerprint(target=None) -> tuple:
    """Row counts of every table (one query) and the target row's values."""
    tables = _tables()
    quote = connection.ops.quote_name
    with connection.cursor() as cursor:
        cursor.execute("SELECT " + ", ".join(f"(SELECT COUNT(*) FROM {quote(t)})" for t in tables))
        counts = dict(zip(tables, cursor.fetchone()))
    row = None
    if target is not None:
        row = type(target)._base_manager.filter(pk=target.pk).values().first()
    return counts, row


def assert_unchanged(before, after, what):
    (counts_before, row_before), (counts_after, row_after) = before, after
    grown = {t: (counts_before[t], counts_after[t]) for t in counts_before if counts_before[t] != counts_after[t]}
    assert not grown, f"{what}: rows added or removed {grown}"
    assert row_before == row_after, f"{what}: the row changed"


def _request(user):
    request = RequestFactory().get("/admin/")
    request.user = user
    return request


def _holds(user, perms) -> bool:
    if perms == NOBODY:
        return False
    perms = (perms,) if isinstance(perms, str) else perms
    return all(user.has_perm(p) for p in perms)


def _url(model, suffix, *args):
    return reverse(f"admin:{model._meta.app_label}_{model._meta.model_name}_{suffix}", args=args)


def _row(model_admin, model, request):
    """The model's row as this user's screen has it (a collector's scope may hide it)."""
    return model._default_manager.order_by("pk").first()


# --- the declarations are complete -------------------------------------------------------------


def test_every_admin_action_is_declared_with_a_permission_beyond_view(db):
    declared, undeclared, view_only = set(), [], []
    for model, model_admin in _registered():
        label = model._meta.label_lower
        for func, name, _ in model_admin._get_base_actions():
            if name == "delete_selected":
                continue
            declared.add((label, name))
            if (label, name) not in ACTIONS:
                undeclared.append(f"{label}: {name}")
                continue
            allowed = set(getattr(func, "allowed_permissions", ()) or ())
            if ACTIONS[(label, name)] != READ_ONLY and (not allowed or allowed <= {"view"}):
                view_only.append(f"{label}: {name} asks for {sorted(allowed) or 'nothing'}")
    assert not undeclared, f"actions without a declared permission (add them to ACTIONS): {undeclared}"
    assert not view_only, f"actions that move something need a permission beyond view: {view_only}"
    assert set(ACTIONS) <= declared, f"declared but not registered: {set(ACTIONS) - declared}"


def test_every_custom_admin_url_is_declared(db):
    undeclared = []
    for model, model_admin in _registered():
        for pattern in model_admin.get_urls():
            if pattern.name and pattern.name not in _standard_names(model) and pattern.name not in CUSTOM_URLS \
                    and _library_url(pattern.name, model) is None:
                undeclared.append(pattern.name)
    assert not undeclared, f"custom admin URLs without a declared permission (add them to CUSTOM_URLS): {undeclared}"


def _standard_names(model) -> set[str]:
    opts = model._meta
    return {f"{opts.app_label}_{opts.model_name}_{s}" for s in ("changelist", "add", "history", "delete", "change")}


def _api_operations():
    """(route, view class, method) for every API write in the URL conf."""
    def walk(patterns, prefix=""):
        for pattern in patterns:
            if isinstance(pattern, URLResolver):
                yield from walk(pattern.url_patterns, prefix + str(pattern.pattern))
            else:
                yield prefix + str(pattern.pattern), pattern

    for route, pattern in walk(get_resolver().url_patterns):
        view = getattr(pattern.callback, "cls", None)
        if view is None or view.__name__ in API_NOT_OPERATIONS:  # an @api_view's class takes its function's name
            continue
        methods = getattr(pattern.callback, "actions", None) or {m: m for m in ("post", "put", "patch", "delete")
                                                                 if hasattr(view, m)}
        for method in methods:
            if method in ("post", "put", "patch", "delete"):
                path = "/" + re.sub(r"<(?:\w+:)?(\w+)>", "X0000000000", route)
                yield path, view, method


def test_the_api_writes_are_found(db):
    found = {(path, method) for path, _, method in _api_operations()}
    assert ("/api/v1/repayments/", "post") in found and ("/api/v1/statements/X0000000000/installments/", "post") in found
    assert len(found) >= 11, found


# --- role by role --------------------------------------------------------------------------------


@pytest.mark.parametrize("subject", SUBJECTS)
def test_actions_are_offered_only_with_their_permission_and_a_forged_one_changes_nothing(world, client, subject):
    user = world.users[subject]
    client.force_login(user)
    request = _request(user)
    for model, model_admin in _registered():
        label = model._meta.label_lower
        offered = set(model_admin.get_actions(request))
        row = _first(label)
        for _, name, _ in model_admin._get_base_actions():
            required = f"{model._meta.app_label}.delete_{model._meta.model_name}" if name == "delete_selected" \
                else ACTIONS[(label, name)]
            if required == READ_ONLY:
                assert name not in offered or model_admin.has_view_permission(request), (subject, label, name)
                continue
            if name in offered:
                assert holds(user, required), f"{subject} is offered {label}: {name} without {required}"
                if name == "delete_selected":
                    assert label not in SECURITY_LOGS, (subject, label)
                continue
            if name != "delete_selected" and holds(user, required) and model_admin.has_view_permission(request):
                pytest.fail(f"{subject} holds {required} but is not offered {label}: {name}")
            if row is None:
                continue
            before = fingerprint(row)
            response = client.post(_url(model, "changelist"), {**FORGED, "action": name, "_selected_action": [row.pk],
                                                               "post": "yes"})
            assert response.status_code in (200, 302, 403), (subject, label, name, response.status_code)
            assert b'name="_form_action_apply"' not in response.content, (subject, label, name)
            assert_unchanged(before, fingerprint(row), f"{subject} forging {label}: {name}")


@pytest.mark.parametrize("subject", SUBJECTS)
def test_add_change_and_delete_need_their_permission_and_read_only_pages_have_no_save(world, client, subject):
    user = world.users[subject]
    client.force_login(user)
    request = _request(user)
    for model, model_admin in _registered():
        label = model._meta.label_lower
        app, name = model._meta.app_label, model._meta.model_name
        # add
        required = ADD_PERMISSIONS.get(label, f"{app}.add_{name}")
        if model_admin.has_add_permission(request):
            assert user.has_perm(required), f"{subject} may add {label} without {required}"
        else:
            before = fingerprint()
            response = client.post(_url(model, "add"), {"name": "forged", "reason": "forged"})
            assert response.status_code == 403, (subject, label, "add", response.status_code)
            assert_unchanged(before, fingerprint(), f"{subject} adding {label}")
        row = _first(label)
        if row is None:
            continue
        # change
        required = f"{app}.change_{name}"
        if model_admin.has_change_permission(request, row):
            assert user.has_perm(required), f"{subject} may change {label} without {required}"
        else:
            page = client.get(_url(model, "change", row.pk))
            assert page.status_code in (200, 302, 403), (subject, label, page.status_code)
            if page.status_code == 200:
                body = page.content.decode()
                assert 'name="_save"' not in body and 'name="_continue"' not in body, f"{subject}: Save on {label}"
            before = fingerprint(row)
            response = client.post(_url(model, "change", row.pk), {"name": "forged", "reason": "forged"})
            custom_page = type(model_admin).change_view is not admin.ModelAdmin.change_view
            assert response.status_code == 403 or custom_page, (subject, label, "change", response.status_code)
            assert_unchanged(before, fingerprint(row), f"{subject} changing {label}")
        # delete
        required = f"{app}.delete_{name}"
        if model_admin.has_delete_permission(request, row):
            assert user.has_perm(required) and label not in SECURITY_LOGS, f"{subject} may delete {label}"
        else:
            before = fingerprint(row)
            response = client.post(_url(model, "delete", row.pk), {"post": "yes"})
            assert response.status_code in (403, 302), (subject, label, "delete", response.status_code)
            assert_unchanged(before, fingerprint(row), f"{subject} deleting {label}")


@pytest.mark.parametrize("subject", SUBJECTS)
def test_custom_admin_urls_are_refused_without_their_permission(world, client, subject):
    user = world.users[subject]
    client.force_login(user)
    for model, model_admin in _registered():
        for pattern in model_admin.get_urls():
            if not pattern.name or pattern.name in _standard_names(model):
                continue
            required, args = CUSTOM_URLS.get(pattern.name) or _library_url(pattern.name, model)
            if _holds(user, required):
                continue
            url = reverse(f"admin:{pattern.name}", args=args(world))
            before = fingerprint()
            if required != NOBODY:  # 404/405: a POST-only URL
                assert client.get(url).status_code in (403, 404, 405), (subject, pattern.name, "GET")
            response = client.post(url, {**FORGED, "confirm": "on", "notes": "forged"})
            assert response.status_code == 403, (subject, pattern.name, "POST", response.status_code)
            assert_unchanged(before, fingerprint(), f"{subject} posting {pattern.name}")


@pytest.mark.parametrize("subject", SUBJECTS)
def test_api_writes_are_refused_without_the_write_permission(world, client, subject):
    user = world.users[subject]
    client.force_login(user)
    assert not user.has_perm(API_WRITE_PERMISSION)  # no role holds it: staff move money in the admin
    for path, view, method in _api_operations():
        before = fingerprint()
        response = getattr(client, method)(path, {}, content_type="application/json", HTTP_IDEMPOTENCY_KEY="forged")
        assert response.status_code == 403, (subject, method, path, response.status_code)
        error = response.json()["error"]
        assert error["code"] == "permission_denied" and "CSRF" not in error["message"], (subject, path, error)
        assert_unchanged(before, fingerprint(), f"{subject} {method.upper()} {path}")


def test_with_the_write_permission_the_api_writes_get_past_the_permission_check(world, client):
    """The refusals above are the permission's, not the way the requests are made: the same requests by
    a staff user with the write permission reach the views (which refuse the empty bodies)."""
    client.force_login(world.superuser)
    for path, view, method in _api_operations():
        response = getattr(client, method)(path, {}, content_type="application/json", HTTP_IDEMPOTENCY_KEY="k-1")
        if getattr(view, "staff_session_allowed", True):
            assert response.status_code != 403, (method, path, response.content[:200])
        else:  # the agency API is for agencies' tokens only
            assert response.status_code == 403, (method, path)


# --- superusers too: security logs, old versions -------------------------------------------------


def test_nobody_deletes_or_changes_security_logs_superusers_included(world, client):
    from axes.models import AccessAttempt

    client.force_login(world.superuser)  # (a login resets its own address's attempts: this one is another's)
    AccessAttempt.objects.create(username="someone", ip_address="10.9.8.7", user_agent="x", http_accept="x",
                                 path_info="/admin/login/", get_data="", post_data="", failures_since_start=5)
    request = _request(world.superuser)
    for label in SECURITY_LOGS:
        model = apps.get_model(label)
        model_admin = admin.site._registry[model]
        row = _first(label)
        assert row is not None, label
        assert not model_admin.has_delete_permission(request, row) and not model_admin.has_change_permission(request, row)
        assert "delete_selected" not in model_admin.get_actions(request), label
        assert client.post(_url(model, "delete", row.pk), {"post": "yes"}).status_code == 403, label
        client.post(_url(model, "changelist"), {"action": "delete_selected", "_selected_action": [row.pk], "post": "yes"})
        assert model._default_manager.filter(pk=row.pk).exists(), label

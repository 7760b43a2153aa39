"""The permission matrix is data (issue 23 item 8): ``staff/permission_matrix.toml`` is the one source of
the table in ``staff/PERMISSIONS.md`` and of these checks of every role group's live permissions.

* the committed table is the rendering of the data (``manage.py permission_matrix --write`` makes it);
* each row's permissions are held by the roles whose cell says so, refused to those whose cell is "–",
  and the read-only exceptions (``lacks``) are not held;
* every permission beyond viewing that a role group holds is named in one of that role's rows, so a
  permission added to ``staff/roles.py`` without a line in the matrix fails here;
* API write scopes: which roles may request money-moving scopes for an API client and which may approve
  them, against the integrations app's own mapping when it has one.
"""
from __future__ import annotations

from fnmatch import fnmatchcase
from io import StringIO

import pytest
from django.contrib.auth.models import Group, Permission
from django.core.management import CommandError, call_command

from staff import roles
from staff.permission_matrix import (
    END,
    NO,
    START,
    committed_table,
    matrix_load,
    matrix_render,
    matrix_write,
)

MATRIX = matrix_load()
def _money_moving_scopes() -> set[str]:
    from integrations.scope_controls import MONEY_MOVING_SCOPES as scopes  # the one list (integrations)

    return set(scopes)


MONEY_MOVING_SCOPES = _money_moving_scopes()
REQUEST_ROW = "API clients: request money-moving write scopes"
APPROVE_ROW = "API clients: approve money-moving write scopes"


def held(role_name: str) -> set[str]:
    return {f"{p.content_type.app_label}.{p.codename}"
            for p in Group.objects.get(name=role_name).permissions.select_related("content_type")}


def every_permission() -> set[str]:
    return {f"{p.content_type.app_label}.{p.codename}" for p in Permission.objects.select_related("content_type")}


def row_starting(text: str):
    return next(row for row in MATRIX.rows if row.what.startswith(text))


# --- the data and the table ------------------------------------------------------------------------


def test_the_matrix_names_the_roles_of_staff_roles_in_their_order():
    assert MATRIX.roles == [r.name for r in roles.ROLES]
    assert len({row.what for row in MATRIX.rows}) == len(MATRIX.rows)  # no row twice


def test_the_committed_table_is_the_rendering_of_the_data():
    table = matrix_render()
    assert committed_table() == table, "run `python manage.py permission_matrix --write`"
    assert table.splitlines()[0] == "| | " + " | ".join(MATRIX.roles) + " |"
    assert len(table.splitlines()) == len(MATRIX.rows) + 2
    bank = next(line for line in table.splitlines() if line.startswith("| Import bank repayment files"))
    assert bank.split(" | ")[1:3] == ["–", "✔"]
    out = StringIO()
    call_command("permission_matrix", "--check", stdout=out)
    assert out.getvalue().strip() == "staff/PERMISSIONS.md is up to date"


def test_the_check_fails_and_write_repairs_a_table_edited_by_hand(tmp_path, monkeypatch):
    from staff import permission_matrix

    doc = tmp_path / "PERMISSIONS.md"
    doc.write_text(f"# Roles\n\n{START}\n{matrix_render().replace('| ✔ |', '| – |', 1)}\n{END}\n\nNotes.\n", encoding="utf-8")
    monkeypatch.setattr(permission_matrix, "PERMISSIONS_DOC", doc)
    assert committed_table(doc) != matrix_render()
    monkeypatch.setattr("staff.management.commands.permission_matrix.committed_table", lambda: committed_table(doc))
    with pytest.raises(CommandError, match="permission_matrix --write"):
        call_command("permission_matrix", "--check", stdout=StringIO())
    assert matrix_write(doc) is True
    assert committed_table(doc) == matrix_render()
    assert doc.read_text(encoding="utf-8").startswith("# Roles\n\n") and doc.read_text(encoding="utf-8").endswith("\nNotes.\n")
    assert matrix_write(doc) is False


def test_every_permission_the_data_names_exists(db):
    existing = every_permission()
    missing = []
    for row in MATRIX.rows:
        for role_name, perms in [*row.perms.items(), *row.lacks.items()]:
            for perm in perms:
                if not any(fnmatchcase(p, perm) for p in existing):
                    missing.append((row.what, role_name, perm))
    assert not missing, missing


# --- every role's live permissions against the data ------------------------------------------------


@pytest.mark.parametrize("role_name", [r.name for r in roles.ROLES])
def test_each_role_holds_what_its_rows_say_and_nothing_a_dash_refuses(db, role_name):
    granted = held(role_name)
    problems = []
    for row in MATRIX.rows:
        for perm in row.perms.get(role_name, ()):
            matched = {p for p in granted if fnmatchcase(p, perm)}
            if not matched:
                problems.append(f"{row.what!r}: {role_name} should hold {perm}")
        if row.cell(role_name) == NO:
            for perm in sorted(row.exact_perms() & granted):
                problems.append(f"{row.what!r}: {role_name}'s cell is '–' but it holds {perm}")
        for perm in row.lacks.get(role_name, ()):
            for p in sorted(p for p in granted if fnmatchcase(p, perm)):
                problems.append(f"{row.what!r}: {role_name} must not hold {p}")
    assert not problems, "\n".join(problems)


@pytest.mark.parametrize("role_name", [r.name for r in roles.ROLES])
def test_every_permission_beyond_viewing_a_role_holds_is_in_the_matrix(db, role_name):
    beyond_view = {p for p in held(role_name) if not p.split(".", 1)[1].startswith("view_")}
    unlisted = sorted(p for p in beyond_view if not MATRIX.covers(role_name, p))
    assert not unlisted, f"{role_name} holds permissions no row of staff/permission_matrix.toml names: {unlisted}"


def test_a_permission_granted_without_a_row_fails_the_check(db):
    """The check above can fail: grant the finance group the freeze permission and it is found."""
    roles.roles_sync()
    Group.objects.get(name="Finance").permissions.add(Permission.objects.get(codename="freeze_account"))
    beyond_view = {p for p in held("Finance") if not p.split(".", 1)[1].startswith("view_")}
    assert [p for p in beyond_view if not MATRIX.covers("Finance", p)] == ["accounts.freeze_account"]
    row = row_starting("Freeze / unfreeze accounts")
    assert row.cell("Finance") == NO and "accounts.freeze_account" in row.exact_perms() & held("Finance")


# --- API write scopes: who may request them, who may approve them ------------------------------------


def _scope_approval_mapping() -> dict[str, tuple[str, ...]]:
    """scope code → the permission that approves it: the integrations app's one list (``scope_controls``)."""
    from integrations.scope_controls import MONEY_MOVING_SCOPES as controls

    return {scope: (spec.approver_permission,) for scope, spec in controls.items()}


def test_the_scope_rows_name_registered_money_moving_scopes_and_the_administrator_requests_only():
    from integrations.scopes import is_scope

    request, approve = row_starting(REQUEST_ROW), row_starting(APPROVE_ROW)
    named = {s for row in (request, approve) for scopes in row.scopes.values() for s in scopes}
    assert named == MONEY_MOVING_SCOPES and all(is_scope(s) for s in named)
    assert set(request.scopes) == {"Administrator"} and set(request.scopes["Administrator"]) == MONEY_MOVING_SCOPES
    assert set(approve.scopes) == {"Finance", "Credit officer"}
    assert set(approve.scopes["Finance"]) | set(approve.scopes["Credit officer"]) == MONEY_MOVING_SCOPES
    assert approve.cell("Administrator") == NO and request.cell("Finance") == NO


def test_requesting_scopes_needs_the_api_client_permissions_which_only_the_administrator_holds(db):
    """Which roles can obtain a token with money-moving scopes: only those who may create or change an API
    client ask for scopes, and of the roles only the administrator may — never alone (it approves none)."""
    may_request = {r.name for r in roles.ROLES
                   if {"integrations.add_apiclient", "integrations.change_apiclient"} <= held(r.name)}
    assert may_request == set(row_starting(REQUEST_ROW).scopes) == {"Administrator"}


def test_who_approves_which_scope_matches_the_integrations_mapping(db):
    mapping = _scope_approval_mapping()
    approve = row_starting(APPROVE_ROW)
    for role_ in roles.ROLES:
        granted = held(role_.name)
        may_approve = {scope for scope, perms in mapping.items() if scope in MONEY_MOVING_SCOPES
                       and any(p in granted for p in perms)}
        assert may_approve == set(approve.scopes.get(role_.name, ())), role_.name

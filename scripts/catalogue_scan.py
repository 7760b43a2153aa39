"""Scan the apps' code for the error codes they raise and the audit actions they record (AST, no import).

    .venv/bin/python scripts/catalogue_scan.py            # what each app uses, and what its catalogue lacks
    .venv/bin/python scripts/catalogue_scan.py --write    # add what is missing to each app's codes.py

Used by ``tests/core/test_codes.py`` (the same scan) so that a code or action not in its app's catalogue fails."""
from __future__ import annotations

import ast
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
APPS = ("accounts", "approvals", "bureau", "cashloans", "cob", "core", "debt_collection", "installments", "insurance",
        "integrations", "ledger", "notices", "privacy", "risk", "staff")


def _literal(node) -> str | None:
    return node.value if isinstance(node, ast.Constant) and isinstance(node.value, str) else None


def _literals(node) -> list[str] | None:
    """The strings an expression can be: a literal, either branch of ``a if c else b``, the literal of
    ``exc.code or "invalid"``. ``None`` when it is built at run time (an f-string)."""
    if _literal(node):
        return [_literal(node)]
    if isinstance(node, ast.IfExp):
        found = [_literals(node.body), _literals(node.orelse)]
        return None if None in found else [x for f in found for x in f]
    if isinstance(node, ast.BoolOp):
        return [x for v in node.values for x in (_literals(v) or [])]
    if isinstance(node, ast.Subscript) and isinstance(node.value, ast.Name) and node.value.id.endswith(("_ACTION", "_ACTIONS")):
        return []  # looked up in a map of actions, whose values are read where it is written
    if isinstance(node, (ast.Attribute, ast.Name)):
        return []  # a code passed on (``exc.code``, a parameter): declared where it was first written
    return None


#: Functions that take an error code as ``code=`` without being an error class themselves.
RAISERS = {"_by_reference", "Refusal"}


def _name(func) -> str:
    return func.id if isinstance(func, ast.Name) else func.attr if isinstance(func, ast.Attribute) else ""


def _message(call: ast.Call) -> str:
    if call.args:
        arg = call.args[0]
        if isinstance(arg, ast.Constant) and isinstance(arg.value, str):
            return arg.value
        if isinstance(arg, ast.JoinedStr):
            return "".join(v.value if isinstance(v, ast.Constant) else "…" for v in arg.values)
    return ""


def scan(app: str) -> tuple[dict[str, str], dict[str, str], list[str]]:
    """(error code → first message, audit action → where, dynamic uses that the scan cannot read)."""
    errors: dict[str, str] = {}
    actions: dict[str, str] = {}
    dynamic: list[str] = []
    for path in sorted((ROOT / app).rglob("*.py")):
        if "migrations" in path.parts or path.name == "codes.py":
            continue
        rel = path.relative_to(ROOT)
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            if isinstance(node, ast.ClassDef):  # class-level ``code = "..."`` of an error class
                for stmt in node.body:
                    if (isinstance(stmt, ast.Assign) and len(stmt.targets) == 1 and isinstance(stmt.targets[0], ast.Name)
                            and stmt.targets[0].id == "code" and _literal(stmt.value) and node.name.endswith("Error")):
                        errors.setdefault(_literal(stmt.value), ast.get_docstring(node) or node.name)
            if (isinstance(node, ast.Assign) and len(node.targets) == 1 and isinstance(node.targets[0], ast.Name)
                    and node.targets[0].id.endswith("_CODES") and isinstance(node.value, ast.Dict)):
                for value in node.value.values:  # a map of other exceptions to codes (core.api's DRF codes)
                    if _literal(value):
                        errors.setdefault(_literal(value), value.value.replace("_", " ").capitalize())
            if (isinstance(node, ast.Assign) and len(node.targets) == 1 and isinstance(node.targets[0], ast.Name)
                    and node.targets[0].id.endswith(("_ACTION", "_ACTIONS")) and isinstance(node.value, ast.Dict)):
                for value in node.value.values:  # a map of statuses to actions (approvals' _DECISION_ACTION)
                    for literal in _literals(value) or ():
                        actions.setdefault(literal, f"{rel}:{node.lineno}")
            if (isinstance(node, ast.Assign) and len(node.targets) == 1 and isinstance(node.targets[0], ast.Name)
                    and node.targets[0].id == "action"):  # ``action = "a" if … else "b"`` then audit_record(action=action)
                for value in _literals(node.value) or ():
                    actions.setdefault(value, f"{rel}:{node.lineno}")
            if not isinstance(node, ast.Call):
                continue
            name = _name(node.func)
            position = {"error_body": 0, "api_error": 1}.get(name)
            if position is not None and len(node.args) > position:  # the error body written directly
                value = _literal(node.args[position])
                if value:
                    errors.setdefault(value, _literal(node.args[position + 1]) or "" if len(node.args) > position + 1 else "")
                elif not (isinstance(node.args[position], ast.Attribute) or isinstance(node.args[position], ast.Name)):
                    dynamic.append(f"{rel}:{node.lineno} {name}(…)")
            for kw in node.keywords:
                if kw.arg == "code" and (name.endswith("Error") or name in RAISERS):
                    values = _literals(kw.value)
                    if values is None and isinstance(kw.value, ast.JoinedStr) and _literal(kw.value.values[0]):
                        values = []  # a family of codes (``f"contact_rule_{rule}"``): each member is declared
                        dynamic.append(f"family:{_literal(kw.value.values[0])}")
                    elif values is None:
                        dynamic.append(f"{rel}:{node.lineno} {name}(code=…)")
                    for value in values or ():
                        errors.setdefault(value, _message(node))
                if kw.arg == "action" and "audit" in name.lower():  # audit_record, or a wrapper of it
                    values = _literals(kw.value)
                    if values is None:
                        dynamic.append(f"{rel}:{node.lineno} audit_record(action=…)")
                    for value in values or ():
                        actions.setdefault(value, f"{rel}:{node.lineno}")
    return errors, actions, dynamic


def declared(app: str) -> tuple[dict[str, str], dict[str, str]]:
    """What ``<app>/codes.py`` declares (read from its source, without importing Django)."""
    path = ROOT / app / "codes.py"
    if not path.exists():
        return {}, {}
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Call) and _name(node.func) == "catalogue":
            found = {kw.arg: ast.literal_eval(kw.value) for kw in node.keywords if kw.arg in ("errors", "audit")}
            return found.get("errors", {}), found.get("audit", {})
    return {}, {}


def _entries(mapping: dict[str, str]) -> str:
    return "".join(f"        {code!r}: {text!r},\n" for code, text in sorted(mapping.items()))


def write(app: str, errors: dict[str, str], actions: dict[str, str]) -> None:
    label = "collections" if app == "debt_collection" else app
    (ROOT / app / "codes.py").write_text(
        f'''"""The error codes and audit actions of the {label} app (PRODUCT §12; the catalogue is ``core.catalogue``).
Every ``code=`` an error of this app raises and every ``action=`` it audits is declared here:
``tests/core/test_codes.py`` fails otherwise. ``scripts/catalogue_scan.py --write`` adds new ones."""
from core.catalogue import catalogue

CATALOGUE = catalogue(
    {app!r},
    errors={{
{_entries(errors)}    }},
    audit={{
{_entries(actions)}    }},
)
''', encoding="utf-8")


def _describe_action(action: str) -> str:
    return action.replace("_", " ").capitalize()


if __name__ == "__main__":
    if "--write" in sys.argv:
        for app in APPS:
            errors, actions, _ = scan(app)
            have_errors, have_actions = declared(app)
            merged_errors = {**{c: (m or c.replace("_", " ").capitalize())[:160] for c, m in errors.items()}, **have_errors}
            merged_actions = {**{a: _describe_action(a) for a in actions}, **have_actions}
            if merged_errors or merged_actions:
                write(app, merged_errors, merged_actions)
        sys.exit(0)
    total_e = total_a = 0
    for app in APPS:
        errors, actions, dynamic = scan(app)
        total_e += len(errors)
        total_a += len(actions)
        print(f"{app}: {len(errors)} error codes, {len(actions)} audit actions")
        for d in dynamic:
            print("   dynamic:", d)
    print(f"total: {total_e} error codes, {total_a} audit actions")

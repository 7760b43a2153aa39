"""Every error code an app raises and every audit action it records is declared in its catalogue
(``<app>/codes.py``, ``core.catalogue``; PRODUCT §12), read from the code itself by ``scripts/catalogue_scan.py``;
the API schema publishes the error codes as an enum; ``audit_record`` refuses an undeclared action."""
from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

from core.actors import Actor
from core.audit import audit_record
from core.catalogue import audit_actions, catalogues, error_codes
from core.models import AuditEvent

ROOT = Path(__file__).resolve().parents[2]
_spec = importlib.util.spec_from_file_location("catalogue_scan", ROOT / "scripts" / "catalogue_scan.py")
scan = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(scan)


@pytest.mark.parametrize("app", scan.APPS)
def test_every_code_and_action_an_app_uses_is_in_its_catalogue(app):
    errors, actions, dynamic = scan.scan(app)
    declared = catalogues().get(app)
    declared_errors = set(declared.errors) if declared else set()
    declared_actions = set(declared.audit) if declared else set()
    assert sorted(set(errors) - declared_errors) == []
    assert sorted(set(actions) - declared_actions) == []
    unreadable = [d for d in dynamic if not d.startswith("family:")]
    assert unreadable == []  # a code or action built at run time cannot be checked: write the literals
    for family in (d.removeprefix("family:") for d in dynamic if d.startswith("family:")):
        assert any(code.startswith(family) for code in declared_errors), family


def test_an_audit_action_belongs_to_one_app_and_every_entry_says_what_it_means():
    seen: dict[str, str] = {}
    for app, entry in catalogues().items():
        for action in entry.audit:
            assert action not in seen, (action, seen.get(action), app)
            seen[action] = app
        assert all(text.strip() for text in [*entry.errors.values(), *entry.audit.values()]), app
    assert set(seen) == set(audit_actions())


@pytest.mark.django_db
def test_an_undeclared_audit_action_is_refused_and_nothing_is_written():
    with pytest.raises(ValueError, match="not declared"):
        audit_record(actor=Actor.system("test"), action="made_up_action", obj=AuditEvent(pk=0))
    assert not AuditEvent.objects.exists()


def test_the_api_schema_lists_every_error_code():
    from drf_spectacular.generators import SchemaGenerator

    schema = SchemaGenerator().get_schema(request=None, public=True)
    enum = next(s for name, s in schema["components"]["schemas"].items() if name.startswith("Code") and "enum" in s)
    assert set(enum["enum"]) == set(error_codes())
    assert {"insufficient_limit", "invalid", "throttled", "request_too_large"} <= set(enum["enum"])

"""The catalogues of error codes and audit actions (PRODUCT §12: one catalogued event per state change; the
API's error codes published in its schema). Each app declares its own in ``<app>/codes.py``::

    from core.catalogue import catalogue

    CATALOGUE = catalogue("accounts", errors={"insufficient_limit": "…"}, audit={"limit_change": "…"})

``tests/core/test_codes.py`` reads every app's code (``scripts/catalogue_scan.py``) and fails on a code raised or an
action audited that its app does not declare; ``core.audit.audit_record`` refuses an action no catalogue declares.
The API schema's error ``code`` is the enum of every declared error code."""
from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from importlib import import_module

_catalogues: dict[str, Catalogue] = {}


@dataclass(frozen=True)
class Catalogue:
    app: str
    errors: Mapping[str, str] = field(default_factory=dict)  # code → what it means
    audit: Mapping[str, str] = field(default_factory=dict)  # action → what changed


def catalogue(app: str, *, errors: Mapping[str, str] | None = None, audit: Mapping[str, str] | None = None) -> Catalogue:
    entry = Catalogue(app=app, errors=dict(errors or {}), audit=dict(audit or {}))
    _catalogues[app] = entry
    return entry


def catalogues() -> dict[str, Catalogue]:
    """Every app's catalogue (their ``codes`` modules imported on first use)."""
    from django.apps import apps

    for config in apps.get_app_configs():
        if config.name not in _catalogues:
            try:
                import_module(f"{config.name}.codes")
            except ModuleNotFoundError as exc:
                if exc.name != f"{config.name}.codes":
                    raise
    return dict(_catalogues)


def error_codes() -> dict[str, str]:
    return {code: text for c in catalogues().values() for code, text in c.errors.items()}


def audit_actions() -> dict[str, str]:
    return {action: text for c in catalogues().values() for action, text in c.audit.items()}

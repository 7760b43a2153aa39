"""Admin navigation grouped by job rather than by Python app.

:func:`job_sections` takes the admin's ``app_list`` (already filtered by the user's permissions, so a
role sees only the screens it may open) and regroups its models into sections named after the work
staff do. A model that no section claims stays under its app's name, so a new app shows up at once.
"""
from __future__ import annotations

from dataclasses import dataclass
from django.utils.translation import gettext_lazy as _


@dataclass(frozen=True)
class Section:
    key: str
    name: str
    members: tuple[str, ...]  # "app_label.model_name" or "app_label" (every model of the app)


SECTIONS: tuple[Section, ...] = (
    Section("credit", _("Customers & credit lines"), (
        "accounts.customer", "accounts.creditaccount", "accounts.temporarylimit", "staff.temporarylimitcampaign",
        "accounts.limitchange", "accounts.statuschange", "notices.notice",
    )),
    Section("decisions", _("Applications & reviews"), (
        "risk.application", "risk.creditdecision", "risk.reviewcase", "risk.limitreview", "risk.riskevent",
        "risk.accountscore",
    )),
    Section("engine", _("Purchases, bills & plans"), (
        "installments.purchase", "installments.authorization", "installments.statement", "installments.plan",
        "installments.installmentplan", "installments.scheduleline", "installments.quote", "installments.charge",
        "installments.adjustment",
    )),
    Section("finance", _("Payments & books"), (
        "installments.repayment", "installments.allocation", "installments.refund", "installments.waiver",
        "installments.fee", "installments.writeoff", "ledger",
    )),
    Section("collections", _("Collections"), ("collections", "staff.overdueaccount")),
    Section("risk", _("Risk & portfolio"), ("risk", "staff.portfoliosnapshot")),
    Section("bureau", _("Credit bureau"), ("bureau",)),
    Section("imports", _("Imports & exports"), (
        "staff.bankrepaymentfile", "staff.storefrontorderimport", "staff.importjob", "staff.importrecord",
        "staff.repaymentexport",
        "staff.statementexport", "staff.scheduleexport", "staff.collectionassignmentexport",
    )),
    Section("operations", _("Close of business"), ("cob", "core.businessdate")),
    Section("privacy", _("Privacy & audit"), ("privacy", "core.auditevent", "core", "axes")),
    Section("config", _("Products & configuration"), (
        "accounts.creditproduct", "installments.product", "installments.creditproduct", "installments.pricing",
        "installments.feeschedule", "installments", "notices.noticetemplate",
    )),
    Section("admin", _("Staff & roles"), ("auth",)),
)


def _section_for(app_label: str, model_name: str) -> Section | None:
    label = f"{app_label}.{model_name}"
    for section in SECTIONS:  # an exact model match wins over an app-wide one
        if label in section.members:
            return section
    for section in SECTIONS:
        if app_label in section.members:
            return section
    return None


def job_sections(app_list: list[dict]) -> list[dict]:
    """``app_list`` regrouped: a list of app-like dicts (``name``, ``app_label``, ``models``) the
    admin's templates can render."""
    grouped: dict[str, dict] = {}
    order = {section.key: i for i, section in enumerate(SECTIONS)}
    for app in app_list:
        for model in app.get("models", []):
            model_name = model.get("object_name", "").lower()
            section = _section_for(app["app_label"], model_name)
            if section is None:
                key, name, rank = f"app-{app['app_label']}", app["name"], len(SECTIONS)
            else:
                key, name, rank = section.key, section.name, order[section.key]
            entry = grouped.setdefault(key, {"name": name, "app_label": key, "app_url": "", "models": [], "rank": rank})
            entry["models"].append({**model, "section_app_label": app["app_label"]})
    for entry in grouped.values():  # within a section: the order the section lists, then by name
        members = next((s.members for s in SECTIONS if s.key == entry["app_label"]), ())
        entry["models"].sort(key=lambda m: (_rank(members, m), str(m.get("name", ""))))
    return sorted(grouped.values(), key=lambda s: (s["rank"], s["name"]))


def _rank(members: tuple[str, ...], model: dict) -> int:
    label = f"{model['section_app_label']}.{model.get('object_name', '').lower()}"
    if label in members:
        return members.index(label)
    if model["section_app_label"] in members:
        return members.index(model["section_app_label"])
    return len(members)

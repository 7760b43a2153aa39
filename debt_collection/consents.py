"""Consents acted on where collections uses them: a withdrawn agency-sharing consent recalls the
customer's cases from agencies (registered with ``accounts.hooks`` in ``CollectionsConfig.ready()``;
the agency API also re-checks the consent on every read)."""
from __future__ import annotations

from accounts.hooks import ConsentWithdrawn, register_consent_withdrawn_handler
from accounts.models import Consent


def on_consent_withdrawn(notice: ConsentWithdrawn) -> None:
    if notice.kind != Consent.Kind.AGENCY_SHARING:
        return
    from debt_collection.services.cases import cases_recall_from_agencies

    cases_recall_from_agencies(customer=notice.customer, actor=notice.actor, reason=notice.reason)


def connect() -> None:
    register_consent_withdrawn_handler(on_consent_withdrawn)

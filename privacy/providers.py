"""Registry contributions for accounts, core (the audit trail), privacy itself, installments and
ledger. Apps that register their own provider in ``AppConfig.ready()`` (collections, risk) keep
theirs: a provider registered under the same key replaces these. See ``privacy/registry.py``."""
from __future__ import annotations

import datetime as dt

from dateutil.relativedelta import relativedelta
from django.apps import apps
from django.db.models import Q, TextField, Value

from core.crypto import encrypt

from privacy import registry
from privacy.registry import Provider, RecordSet, RetentionDuty, register

AML_BASIS = (
    "Anti-Money Laundering Law of the PRC (revised 2024) and the PBoC rules on customer due diligence and "
    "record keeping: customer identity records and transaction records are kept for {years} years after "
    "the business relationship ends"
)


# --- accounts ---------------------------------------------------------------------------------


def _customer_history(customer):
    return customer.history.filter(id=customer.pk).order_by("history_date", "history_id")


def accounts_retention(customer, *, on: dt.date, policy) -> list[RetentionDuty]:
    """One duty per credit account: identity and transaction records are kept for
    ``policy.aml_retention_years`` after the account closes; an account that is not closed keeps
    the relationship (and the duty) running."""
    duties = []
    for account in customer.accounts.order_by("pk"):
        until = None
        if account.closed_on is not None:
            until = account.closed_on + relativedelta(years=policy.aml_retention_years)
        duties.append(
            RetentionDuty(
                basis=AML_BASIS.format(years=policy.aml_retention_years),
                records="identity (name, ID number, contact details) and the account's transaction records",
                until=until,
                source=f"credit account {account.reference}"
                + (f" closed on {account.closed_on.isoformat()}" if account.closed_on else " (open)"),
            )
        )
    return duties


def anonymised_id_hash(customer) -> str:
    """A unique placeholder for ``id_number_hash`` that no ID number hashes to."""
    return f"anonymised:{customer.reference}"


CUSTOMER_ERASED_VALUES = {
    "name": "Anonymised",
    "mobile": "",
    "address": "",
    "email": "",
    "external_id": "",
    "id_number_last4": "",
}


def accounts_anonymise(customer, *, retained: bool) -> int:
    """Full anonymisation erases the profile and its history rows; under a retention duty the
    profile is identity data the law keeps, so nothing is erased here."""
    if retained:
        return 0
    Customer = apps.get_model("accounts", "Customer")
    values = dict(CUSTOMER_ERASED_VALUES, id_number_hash=anonymised_id_hash(customer))
    # A queryset update, so no history row holding the old values is written. ``id_number`` is
    # stored as the encryption of "" (``EncryptedTextField`` cannot read back a bare "").
    Customer.objects.filter(pk=customer.pk).update(
        id_number=Value(encrypt(""), output_field=TextField()), **values
    )
    history_values = {k: v for k, v in values.items() if k in {f.name for f in customer.history.model._meta.fields}}
    changed = customer.history.filter(id=customer.pk).update(**history_values)
    for field, value in values.items():
        setattr(customer, field, value)
    customer.id_number = ""
    return 1 + changed


ACCOUNTS = Provider(
    key="accounts",
    label="Customers and credit lines",
    records=(
        RecordSet("profile", "accounts.Customer", customer_path="pk", description="Identity and contact details."),
        RecordSet(
            "profile_history", "accounts.HistoricalCustomer", queryset=_customer_history,
            fields=("history_date", "history_type", "history_change_reason", "name", "mobile", "address", "email",
                    "external_id", "processing_restricted", "anonymised_at"),
            description="Earlier versions of the profile (every change).",
        ),
        RecordSet("consents", "accounts.Consent", description="Consents given and withdrawn, with text version."),
        RecordSet("credit_accounts", "accounts.CreditAccount"),
        RecordSet(
            "credit_account_history", "accounts.HistoricalCreditAccount",
            exclude=("id",), description="Earlier versions of each credit account.",
        ),
        RecordSet("temporary_limits", "accounts.TemporaryLimit", customer_path="account__customer"),
        RecordSet("limit_changes", "accounts.LimitChange", customer_path="account__customer"),
        RecordSet("status_changes", "accounts.StatusChange", customer_path="account__customer"),
        RecordSet("bucket_changes", "accounts.BucketChange", customer_path="account__customer"),
    ),
    retention=accounts_retention,
    anonymise=accounts_anonymise,
    anonymise_last=True,
    erases=tuple(f"accounts.customer.{f}" for f in ("name", "id_number", "id_number_hash", "id_number_last4", "mobile",
                                                     "address", "email"))
    + tuple(f"accounts.historicalcustomer.{f}" for f in ("name", "id_number_hash", "id_number_last4", "mobile",
                                                          "address", "email")),
)


# --- core: the audit trail about the customer and their accounts ------------------------------


def _audit_events(customer):
    AuditEvent = apps.get_model("core", "AuditEvent")
    account_ids = [str(pk) for pk in customer.accounts.values_list("pk", flat=True)]
    return AuditEvent.objects.filter(
        Q(object_type="accounts.customer", object_id=str(customer.pk))
        | Q(object_type="accounts.creditaccount", object_id__in=account_ids)
    ).order_by("created_at", "id")


def core_anonymise(customer, *, retained: bool) -> int:
    """Audit rows stay (who did what, when); on a full anonymisation the customer's name (masked
    in ``object_repr``) and the masked values of corrections are replaced."""
    if retained:
        return 0
    AuditEvent = apps.get_model("core", "AuditEvent")
    mine = AuditEvent.objects.filter(object_type="accounts.customer", object_id=str(customer.pk))
    changed = mine.update(object_repr=f"Anonymised customer ({customer.reference})")
    for event in mine.filter(action="pii_correction").only("pk", "old", "new"):
        erased = {"old": {k: "erased" for k in (event.old or {})}, "new": {k: "erased" for k in (event.new or {})}}
        AuditEvent.objects.filter(pk=event.pk).update(**erased)
    return changed


CORE = Provider(
    key="core",
    label="Audit trail",
    records=(
        RecordSet(
            "audit_events", "core.AuditEvent", queryset=_audit_events,
            fields=("created_at", "action", "object_type", "object_repr", "old", "new", "reason", "actor", "actor_rule"),
            description="Sensitive actions taken on the customer or their accounts.",
        ),
    ),
    anonymise=core_anonymise,
)


# --- privacy: the customer's own requests, restrictions and who saw their data ------------------


PRIVACY = Provider(
    key="privacy",
    label="Privacy",
    records=(
        RecordSet("data_requests", "privacy.DataSubjectRequest", exclude=("result",),
                  description="Requests under PIPL Arts. 45–47 and their outcome."),
        RecordSet("processing_restrictions", "privacy.ProcessingRestriction"),
        RecordSet("personal_data_access", "privacy.PiiAccessLog", fields=("accessed_at", "channel", "fields"),
                  description="When staff saw the personal data in full, and which fields."),
    ),
    keeps=(("privacy.piiaccesslog.ip_address", "the staff member's address, not the customer's"),),
)


# --- installments and ledger: transaction records (kept with the account under the AML duty) ----


INSTALLMENT_NAMES = {
    "purchase": "purchases", "plan": "installment_plans", "scheduleline": "schedule_lines",
    "statement": "statements", "statementline": "statement_lines", "charge": "fees_and_charges",
    "repayment": "repayments", "refund": "refunds", "allocation": "repayment_allocations",
    "adjustment": "adjustments", "writeoff": "write_offs",
}


def installments_anonymise(customer, *, retained: bool) -> int:
    """Transaction records stay (they identify nobody once the profile is anonymised); the device
    id of a purchase is the customer's, kept only while the transaction records are."""
    if retained:
        return 0
    Purchase = apps.get_model("installments", "Purchase")
    return Purchase.objects.filter(account__customer=customer).exclude(device_id="").update(device_id="")


def installments_provider() -> Provider:
    return Provider(
        key="installments", label="Purchases, statements, plans and repayments",
        records=registry.records_for_app("installments", names=INSTALLMENT_NAMES),
        anonymise=installments_anonymise,
        erases=("installments.purchase.device_id",),
    )


def ledger_provider() -> Provider:
    return Provider(
        key="ledger", label="Bookkeeping",
        records=registry.records_for_app("ledger", names={"journalline": "journal_lines"}),
    )


def register_builtin_providers() -> None:
    """Register the providers of the apps present (each later app may replace its own by key)."""
    for provider in (ACCOUNTS, CORE, PRIVACY):
        register(provider)
    for app_label, factory in (("installments", installments_provider), ("ledger", ledger_provider)):
        installed = app_label in {c.label for c in apps.get_app_configs()}
        if installed and app_label not in {p.key for p in registry.get_providers()}:
            register(factory())

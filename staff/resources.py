"""The import files staff bring in and the exports they take away.

Every import row calls the owning app's service (``accounts.services``, ``installments.services``)
with the staff user as the actor; see :mod:`staff.imports` for the all-or-nothing rules.
"""
from __future__ import annotations

from decimal import Decimal

from django.core.exceptions import ValidationError as DjangoValidationError
from import_export.results import RowResult

from accounts import selectors as account_selectors
from accounts import services as account_services
from accounts.models import Consent, CreditAccount, CreditProduct, TemporaryLimit
from core.actors import Actor
from core.business_date import get_business_date
from core.crypto import pii_hash
from core.errors import BusinessRuleError, ConflictError, NotFoundError
from core.identity import normalize_id_number
from core.masking import mask_id_number, mask_mobile, mask_name
from core.money import ZERO, format_cny
from staff.imports import Column, Outcome, ServiceResource, cell_amount, cell_date, cell_int, cell_text, collect, register

NEW, UPDATE, SKIP = RowResult.IMPORT_TYPE_NEW, RowResult.IMPORT_TYPE_UPDATE, RowResult.IMPORT_TYPE_SKIP
ACCOUNT_REF_PATTERN = r"[0-9A-Z]{6,16}"


def _actor(resource: ServiceResource) -> Actor:
    return Actor.staff(resource.user) if getattr(resource.user, "pk", None) else Actor.system("import")


def _duplicate(seen: dict, key, line: int, what: str) -> None:
    first = seen.setdefault(key, line)
    if first != line:
        raise DjangoValidationError(f"{what} already appears on line {first} of this file.")


def _accounts_by_reference(dataset, column: str = "account_reference") -> dict[str, CreditAccount]:
    refs = {str(v).strip().upper() for v in dataset[column] if v not in (None, "")} if column in dataset.headers else set()
    return CreditAccount.objects.select_related("customer").in_bulk(list(refs), field_name="reference") if refs else {}


def _unknown_account(reference: str):
    raise DjangoValidationError({"account_reference": [f"Unknown account {reference}."]})


# --- Customers with their accounts and limits ----------------------------------------------------


@register
class CustomerAccountImport(ServiceResource):
    """New customers open an account at the given limit; a known customer (same ID number) gets an
    account for a new product, or a changed fixed limit. Personal data of a known customer is never
    overwritten by a file (corrections are a privacy request)."""

    key = "customers"
    title = "Customers with accounts and limits"
    permission = "accounts.import_customer"
    columns = (
        Column("name", "Full name.", personal=True),
        Column("id_number", "18-character resident ID number.", personal=True, aliases=("id", "id_no")),
        Column("mobile", "11-digit mobile number.", personal=True, aliases=("phone",)),
        Column("product", "Credit product code, e.g. baitiao.", aliases=("product_code",)),
        Column("fixed_limit", "Credit limit in yuan, e.g. 5000.00.", aliases=("limit",)),
        Column("bill_day", "Day of the month 1–28 (default: the product's).", required=False),
        Column("address", "Postal address.", required=False, personal=True),
        Column("email", "E-mail address.", required=False, personal=True),
        Column("external_id", "The storefront's user id.", required=False),
        Column("consents", "Consents granted, comma-separated: " + ", ".join(Consent.Kind.values) + ".", required=False),
        Column("consent_version", "Version of the consent texts (default: import).", required=False),
    )
    preview_headers = ("Customer", "ID number", "Mobile", "Product", "Fixed limit", "Bill day", "What happens")
    summary_labels = {"customers": "New customers", "accounts": "New accounts", "limits": "Limit changes",
                      "total_limit": "Limits granted or set"}

    def prepare(self, dataset) -> None:
        self.products = {p.code: p for p in CreditProduct.objects.all()}
        self.seen: dict = {}

    def parse(self, row: dict, line: int) -> dict:
        name, id_number, mobile, product, limit, bill_day, address, email, external_id, consents, version = collect(
            lambda: cell_text(row, "name", max_length=100),
            lambda: normalize_id_number(cell_text(row, "id_number", max_length=18)),
            lambda: cell_text(row, "mobile", max_length=11),
            lambda: cell_text(row, "product", max_length=40),
            lambda: cell_amount(row, "fixed_limit", allow_zero=True),
            lambda: cell_int(row, "bill_day", required=False, minimum=1, maximum=28),
            lambda: cell_text(row, "address", required=False, max_length=300),
            lambda: cell_text(row, "email", required=False, max_length=254),
            lambda: cell_text(row, "external_id", required=False, max_length=64),
            lambda: cell_text(row, "consents", required=False, max_length=200),
            lambda: cell_text(row, "consent_version", required=False, max_length=20),
        )
        if product not in self.products:
            raise DjangoValidationError({"product": [f"Unknown product {product!r}."]})
        kinds = [k.strip() for k in consents.split(",") if k.strip()] if consents else []
        unknown = [k for k in kinds if k not in Consent.Kind.values]
        if unknown:
            raise DjangoValidationError({"consents": [f"Unknown consent kind(s): {', '.join(unknown)}."]})
        _duplicate(self.seen, pii_hash(id_number), line, "This ID number")
        return {
            "name": name, "id_number": id_number, "mobile": mobile, "product": self.products[product],
            "fixed_limit": limit, "bill_day": bill_day, "address": address, "email": email,
            "external_id": external_id, "consents": [(k, version or "import", True) for k in kinds],
        }

    def apply(self, values: dict, *, line: int, dry_run: bool) -> Outcome:
        actor = _actor(self)
        reason = f"import {self.file_name} line {line}"[:500]
        product, limit = values["product"], values["fixed_limit"]
        customer = account_selectors.customer_find_by_id_number(values["id_number"])
        cells = [mask_name(values["name"]), mask_id_number(values["id_number"]), mask_mobile(values["mobile"]),
                 product.code, format_cny(limit), str(values["bill_day"] or product.default_bill_day)]
        if customer is None:
            customer = account_services.customer_create(
                name=values["name"], id_number=values["id_number"], mobile=values["mobile"], address=values["address"],
                email=values["email"], external_id=values["external_id"], consents=values["consents"],
            )
            account = account_services.account_open(
                customer=customer, product=product, fixed_limit=limit, bill_day=values["bill_day"], actor=actor,
                reason=reason,
            )
            self.add_to_summary("customers", 1)
            self.add_to_summary("accounts", 1)
            self.add_to_summary("total_limit", limit)
            return Outcome(NEW, cells + ["new customer, new account"], obj=account)
        account = CreditAccount.objects.filter(customer=customer, product=product).first()
        if account is None:
            account = account_services.account_open(
                customer=customer, product=product, fixed_limit=limit, bill_day=values["bill_day"], actor=actor,
                reason=reason,
            )
            self.add_to_summary("accounts", 1)
            self.add_to_summary("total_limit", limit)
            return Outcome(NEW, cells + [f"known customer {customer.reference}: new account"], obj=account)
        if account.fixed_limit == limit:
            return Outcome(SKIP, cells + [f"already imported: account {account.reference}"], obj=account)
        old = account.fixed_limit
        account = account_services.account_change_fixed_limit(account=account, new_limit=limit, actor=actor, reason=reason)
        self.add_to_summary("limits", 1)
        self.add_to_summary("total_limit", limit)
        return Outcome(UPDATE, cells + [f"account {account.reference}: limit {format_cny(old)} → {format_cny(limit)}"], obj=account)


# --- Temporary-limit campaign lists ----------------------------------------------------------


@register
class TemporaryLimitCampaignImport(ServiceResource):
    """One temporary limit per line (618, Double 11…). A line already granted is skipped, so the same
    list imported twice grants nothing the second time."""

    key = "temporary_limits"
    title = "Temporary-limit campaign list"
    permission = "staff.import_temporarylimitcampaign"
    columns = (
        Column("account_reference", "The account's reference.", aliases=("account", "account_ref")),
        Column("amount", "Temporary limit in yuan, e.g. 3000.00."),
        Column("starts_on", "First day, YYYY-MM-DD.", aliases=("start", "start_date")),
        Column("ends_on", "Last day (inclusive), YYYY-MM-DD.", aliases=("end", "end_date", "expires_on")),
        Column("campaign", "Campaign name, e.g. Double 11."),
        Column("reason", "Why (default: the campaign and file).", required=False),
    )
    preview_headers = ("Account", "Campaign", "Amount", "From", "Through", "What happens")
    summary_labels = {"grants": "Temporary limits granted", "total": "Total granted"}

    def prepare(self, dataset) -> None:
        self.accounts = _accounts_by_reference(dataset)
        self.seen: dict = {}

    def parse(self, row: dict, line: int) -> dict:
        reference, amount, starts_on, ends_on, campaign, reason = collect(
            lambda: cell_text(row, "account_reference", max_length=16, pattern=ACCOUNT_REF_PATTERN,
                              pattern_help="An account reference is 6–16 letters and digits.").upper(),
            lambda: cell_amount(row, "amount"),
            lambda: cell_date(row, "starts_on"),
            lambda: cell_date(row, "ends_on"),
            lambda: cell_text(row, "campaign", max_length=60),
            lambda: cell_text(row, "reason", required=False, max_length=300),
        )
        if ends_on < starts_on:
            raise DjangoValidationError({"ends_on": ["Ends before it starts."]})
        account = self.accounts.get(reference)
        if account is None:
            _unknown_account(reference)
        _duplicate(self.seen, (reference, campaign), line, f"Account {reference} in campaign {campaign}")
        return {"account": account, "amount": amount, "starts_on": starts_on, "ends_on": ends_on, "campaign": campaign,
                "reason": reason or f"campaign {campaign} ({self.file_name})"}

    def apply(self, values: dict, *, line: int, dry_run: bool) -> Outcome:
        account = values["account"]
        cells = [account.reference, values["campaign"], format_cny(values["amount"]), values["starts_on"].isoformat(),
                 values["ends_on"].isoformat()]
        existing = TemporaryLimit.objects.filter(
            account=account, campaign=values["campaign"], starts_on=values["starts_on"], ends_on=values["ends_on"],
        ).first()
        if existing is not None:
            if existing.amount != values["amount"]:
                raise ConflictError(
                    f"Account {account.reference} already has a {format_cny(existing.amount)} limit in this campaign "
                    "for these dates; revoke it before granting another amount.", code="campaign_conflict")
            return Outcome(SKIP, cells + ["already granted"], obj=existing)
        temp = account_services.temporary_limit_grant(
            account=account, amount=values["amount"], starts_on=values["starts_on"], ends_on=values["ends_on"],
            campaign=values["campaign"], actor=_actor(self), reason=values["reason"],
        )
        self.add_to_summary("grants", 1)
        self.add_to_summary("total", values["amount"])
        return Outcome(NEW, cells + ["grant"], obj=temp)

"""The import files staff bring in and the exports they take away.

Every import row calls the owning app's service (``accounts.services``, ``installments.services``)
with the staff user as the actor; see :mod:`staff.imports` for the all-or-nothing rules.
"""
from __future__ import annotations

from django.core.exceptions import ValidationError as DjangoValidationError
from django.db.models import Q, Sum
from import_export import fields as ie_fields
from import_export.results import RowResult

from accounts import selectors as account_selectors
from accounts import services as account_services
from accounts.models import Consent, CreditAccount, CreditProduct, TemporaryLimit
from approvals.selectors import approval_pending_for
from core.actors import Actor
from core.business_date import get_business_date
from core.crypto import pii_hash
from core.errors import ConflictError
from core.exports import LabelledModelResource
from core.identity import normalize_id_number, validate_id_number, validate_mobile
from core.masking import mask_address, mask_id_number, mask_mobile, mask_name
from core.money import ZERO, format_cny, money
from debt_collection.models import CaseAssignment
from installments.models import Allocation, Purchase, Repayment, ScheduleLine, Statement
from installments.services import purchase_authorize, repayment_post
from staff.imports import (
    CellError,
    Column,
    Outcome,
    ServiceResource,
    cell_amount,
    cell_date,
    cell_int,
    cell_text,
    collect,
    register,
)
from django.utils.translation import gettext_lazy as _

NEW, UPDATE, SKIP = RowResult.IMPORT_TYPE_NEW, RowResult.IMPORT_TYPE_UPDATE, RowResult.IMPORT_TYPE_SKIP
ACCOUNT_REF_PATTERN = r"[0-9A-Za-z]{6,16}"


def _actor(resource: ServiceResource) -> Actor:
    return Actor.staff(resource.user) if getattr(resource.user, "pk", None) else Actor.system("import")


def _duplicate(seen: dict, key, line: int, what: str) -> None:
    first = seen.setdefault(key, line)
    if first != line:
        raise DjangoValidationError(f"{what} already appears on line {first} of this file.")


def _accounts_by_reference(dataset, column: str = "account_reference") -> dict[str, CreditAccount]:
    refs = {str(v).strip().upper() for v in dataset[column] if v not in (None, "")} if column in dataset.headers else set()
    return CreditAccount.objects.select_related("customer").in_bulk(list(refs), field_name="reference") if refs else {}


def _identity_check(validator, column: str, value: str) -> None:
    try:
        validator(value)
    except DjangoValidationError as exc:
        raise CellError(column, exc.messages[0]) from None


def _unknown_account(reference: str):
    raise DjangoValidationError({"account_reference": [f"Unknown account {reference}."]})


# --- Customers with their accounts and limits ----------------------------------------------------


@register
class CustomerAccountImport(ServiceResource):
    """New customers open an account at the given limit; a known customer (same ID number) gets an
    account for a new product, or a changed fixed limit. Personal data of a known customer is never
    overwritten by a file (corrections are a privacy request)."""

    key = "customers"
    example = {"name": "张三", "id_number": "110105198506151236", "mobile": "13800138000", "product": "baitiao",
               "fixed_limit": "5000.00", "bill_day": "1", "address": "北京市朝阳区建国路1号", "email": "zhang.san@example.com",
               "external_id": "U-10001", "consents": "credit_bureau,data_processing", "consent_version": "v1"}
    title = _("Customers with accounts and limits")
    amount_field = "fixed_limit"
    permission = "accounts.import_customer"
    atomic_rows = True  # customer_create + account_open
    columns = (
        Column("name", _("Full name."), personal=True, mask=mask_name),
        Column("id_number", _("18-character resident ID number."), personal=True, aliases=("id", "id_no"),
               mask=mask_id_number),
        Column("mobile", _("11-digit mobile number."), personal=True, aliases=("phone",), mask=mask_mobile),
        Column("product", _("Credit product code, e.g. baitiao."), aliases=("product_code",)),
        Column("fixed_limit", _("Credit limit in yuan, e.g. 5000.00."), aliases=("limit",)),
        Column("bill_day", _("Day of the month 1–28 (default: the product's)."), required=False),
        Column("address", _("Postal address."), required=False, personal=True, mask=mask_address),
        Column("email", _("E-mail address."), required=False, personal=True),
        Column("external_id", _("The storefront's user id."), required=False),
        Column("consents", "Consents granted, comma-separated: " + ", ".join(Consent.Kind.values) + ".", required=False),
        Column("consent_version", _("Version of the consent texts (default: import)."), required=False),
    )
    preview_headers = ("Customer", "ID number", "Mobile", "Product", "Fixed limit", "Bill day", "What happens")
    summary_labels = {"customers": "New customers", "accounts": "New accounts", "limits": "Limit changes",
                      "total_limit": "Limits granted or set", "pending": "Waiting for a second officer's approval"}

    def prepare(self, dataset) -> None:
        self.products = {p.code: p for p in CreditProduct.objects.all()}
        self.seen: dict = {}

    def _id_number(self, row: dict) -> str:
        value = normalize_id_number(cell_text(row, "id_number", max_length=18))
        _identity_check(validate_id_number, "id_number", value)
        return value

    def _mobile(self, row: dict) -> str:
        value = cell_text(row, "mobile", max_length=11)
        _identity_check(validate_mobile, "mobile", value)
        return value

    def _product(self, row: dict) -> CreditProduct:
        code = cell_text(row, "product", max_length=40)
        if code not in self.products:
            raise CellError("product", f"Unknown product {code!r}.")
        return self.products[code]

    def _consents(self, row: dict) -> list[str]:
        text = cell_text(row, "consents", required=False, max_length=200)
        kinds = [k.strip() for k in text.split(",") if k.strip()]
        unknown = [k for k in kinds if k not in Consent.Kind.values]
        if unknown:
            raise CellError("consents", f"Unknown consent kind(s): {', '.join(unknown)}.")
        return kinds

    def parse(self, row: dict, line: int) -> dict:
        name, id_number, mobile, product, limit, bill_day, address, email, external_id, kinds, version = collect(
            lambda: cell_text(row, "name", max_length=100),
            lambda: self._id_number(row),
            lambda: self._mobile(row),
            lambda: self._product(row),
            lambda: cell_amount(row, "fixed_limit", allow_zero=True),
            lambda: cell_int(row, "bill_day", required=False, minimum=1, maximum=28),
            lambda: cell_text(row, "address", required=False, max_length=300),
            lambda: cell_text(row, "email", required=False, max_length=254),
            lambda: cell_text(row, "external_id", required=False, max_length=64),
            lambda: self._consents(row),
            lambda: cell_text(row, "consent_version", required=False, max_length=20),
        )
        _duplicate(self.seen, pii_hash(id_number), line, "This ID number")
        return {
            "name": name, "id_number": id_number, "mobile": mobile, "product": product,
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
        new_customer = customer is None
        if new_customer:
            customer = account_services.customer_create(
                name=values["name"], id_number=values["id_number"], mobile=values["mobile"], address=values["address"],
                email=values["email"], external_id=values["external_id"], consents=values["consents"],
            )
            self.add_to_summary("customers", 1)
        account = None if new_customer else CreditAccount.objects.filter(customer=customer, product=product).first()
        if account is None:
            # Within the limit policy; above the approval threshold the account waits for a second officer.
            submitted = account_services.account_open_submit(
                customer=customer, product=product, fixed_limit=limit, bill_day=values["bill_day"], actor=actor,
                reason=reason,
            )
            what = "new customer, new account" if new_customer else f"known customer {customer.reference}: new account"
            if not submitted.applied:
                self.add_to_summary("pending", 1)
                return Outcome(NEW, cells + [f"{what} waits for approval (request {submitted.request.reference})"],
                               obj=customer if new_customer else None)
            self.add_to_summary("accounts", 1)
            self.add_to_summary("total_limit", limit)
            return Outcome(NEW, cells + [what], obj=submitted.result)
        if account.fixed_limit == limit:
            return Outcome(SKIP, cells + [f"already imported: account {account.reference}"], obj=account)
        old = account.fixed_limit
        waiting = approval_pending_for(kind=account_services.FIXED_LIMIT_KIND, target=account, new_limit=str(money(limit)))
        if waiting is not None:
            return Outcome(SKIP, cells + [f"already waiting for approval (request {waiting.reference})"], obj=account)
        submitted = account_services.limit_change_submit(account=account, new_limit=limit, actor=actor, reason=reason)
        change = f"account {account.reference}: limit {format_cny(old)} → {format_cny(limit)}"
        if not submitted.applied:
            self.add_to_summary("pending", 1)
            return Outcome(UPDATE, cells + [f"{change} waits for approval (request {submitted.request.reference})"],
                           obj=account)
        self.add_to_summary("limits", 1)
        self.add_to_summary("total_limit", limit)
        return Outcome(UPDATE, cells + [change], obj=submitted.result)


# --- Temporary-limit campaign lists ----------------------------------------------------------


@register
class TemporaryLimitCampaignImport(ServiceResource):
    """One temporary limit per line (618, Double 11…). A line already granted is skipped, so the same
    list imported twice grants nothing the second time. A customer who withdrew the marketing consent
    (or whose processing is restricted) is a refused line with the reason (``campaign_consent_check``), also when a request waiting
    for approval is approved."""

    key = "temporary_limits"
    example = {"account_reference": "ABCD2345EFGH", "amount": "3000.00", "starts_on": "2026-11-01",
               "ends_on": "2026-11-30", "campaign": "Double 11", "reason": "Double 11 campaign"}
    amount_field = "amount"
    title = _("Temporary-limit campaign list")
    permission = "staff.import_temporarylimitcampaign"
    columns = (
        Column("account_reference", _("The account's reference."), aliases=("account", "account_ref")),
        Column("amount", _("Temporary limit in yuan, e.g. 3000.00.")),
        Column("starts_on", _("First day, YYYY-MM-DD."), aliases=("start", "start_date")),
        Column("ends_on", _("Last day (inclusive), YYYY-MM-DD."), aliases=("end", "end_date", "expires_on")),
        Column("campaign", _("Campaign name, e.g. Double 11.")),
        Column("reason", _("Why (default: the campaign and file)."), required=False),
    )
    preview_headers = ("Account", "Campaign", "Amount", "From", "Through", "What happens")
    summary_labels = {"grants": "Temporary limits granted", "total": "Total granted",
                      "pending": "Waiting for a second officer's approval"}

    def prepare(self, dataset) -> None:
        self.accounts = _accounts_by_reference(dataset)
        self.seen: dict = {}
        campaigns = {str(c).strip() for c in dataset["campaign"] if c} if "campaign" in dataset.headers else set()
        self.granted = {
            (t.account_id, t.campaign, t.starts_on, t.ends_on): t
            for t in TemporaryLimit.objects.filter(account__in=list(self.accounts.values()), campaign__in=campaigns)
        } if self.accounts and campaigns else {}

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
        existing = self.granted.get((account.pk, values["campaign"], values["starts_on"], values["ends_on"]))
        if existing is not None:
            if existing.amount != values["amount"]:
                raise ConflictError(
                    f"Account {account.reference} already has a {format_cny(existing.amount)} limit in this campaign "
                    "for these dates; revoke it before granting another amount.", code="campaign_conflict")
            return Outcome(SKIP, cells + ["already granted"], obj=existing)
        account_services.campaign_consent_check(account=account)
        waiting = approval_pending_for(kind=account_services.TEMPORARY_LIMIT_KIND, target=account,
                                       amount=str(money(values["amount"])), starts_on=values["starts_on"].isoformat(),
                                       ends_on=values["ends_on"].isoformat(), campaign=values["campaign"])
        if waiting is not None:
            return Outcome(SKIP, cells + [f"already waiting for approval (request {waiting.reference})"], obj=account)
        submitted = account_services.temporary_limit_submit(
            account=account, amount=values["amount"], starts_on=values["starts_on"], ends_on=values["ends_on"],
            campaign=values["campaign"], actor=_actor(self), reason=values["reason"],
        )
        if not submitted.applied:
            self.add_to_summary("pending", 1)
            return Outcome(NEW, cells + [f"waits for approval (request {submitted.request.reference})"], obj=account)
        self.add_to_summary("grants", 1)
        self.add_to_summary("total", values["amount"])
        return Outcome(NEW, cells + ["grant"], obj=submitted.result)


# --- Bank repayment files ------------------------------------------------------------------------


def allocation_summary(repayment) -> str:
    """Where a repayment went: ``late fee ¥10.00 · installment fee ¥36.00 · principal ¥500.00``."""
    labels = dict(Allocation.Kind.choices)
    order = [k for k, _ in Allocation.Kind.choices]
    rows = dict(repayment.allocations.values_list("kind").annotate(total=Sum("amount")).values_list("kind", "total"))
    parts = [f"{labels[k].lower()} {format_cny(rows[k])}" for k in order if rows.get(k)]
    return " · ".join(parts) or "—"


@register
class BankRepaymentImport(ServiceResource):
    """One repayment per line, posted through ``installments.services.repayment_post`` (allocated late
    fees → deferral fees → installment fees → principal; the rest becomes credit balance). The bank
    reference is the repayment's unique external reference: a line already posted is skipped, so a
    file imported twice posts nothing the second time.

    Four eyes (PRODUCT §12): the uploader's confirmation does not post; the file waits until a second
    finance person confirms its control total against the bank statement (``staff.services.import_job_confirm``)."""

    key = "bank_repayments"
    second_person_confirms = True
    example = {"date": "2026-01-05", "account_reference": "ABCD2345EFGH", "amount": "1036.00",
               "bank_reference": "ICBC20260105000123"}
    amount_field = "amount"
    title = _("Bank repayment file")
    permission = "staff.import_bankrepaymentfile"
    columns = (
        Column("date", _("Day the bank received the money, YYYY-MM-DD (not after the business date)."),
               aliases=("received_on", "value_date", "transaction_date")),
        Column("account_reference", _("The credit account's reference."), aliases=("account", "account_ref")),
        Column("amount", _("Amount received in yuan, e.g. 1036.00.")),
        Column("bank_reference", _("The bank's unique transaction reference."),
               aliases=("bank_ref", "external_ref", "transaction_id")),
    )
    preview_headers = ("Received", "Account", "Amount", "Bank reference", "Allocation")
    summary_labels = {"posted": "Repayments posted", "total": "Amount posted", "replayed": "Already posted"}

    def prepare(self, dataset) -> None:
        self.accounts = _accounts_by_reference(dataset)
        self.seen: dict = {}
        self.today = get_business_date()

    def parse(self, row: dict, line: int) -> dict:
        received_on, reference, amount, bank_reference = collect(
            lambda: cell_date(row, "date"),
            lambda: cell_text(row, "account_reference", max_length=16, pattern=ACCOUNT_REF_PATTERN,
                              pattern_help="An account reference is 6–16 letters and digits.").upper(),
            lambda: cell_amount(row, "amount"),
            lambda: cell_text(row, "bank_reference", max_length=80, pattern=r"[\w./:#-]+",
                              pattern_help="Letters, digits and . / : # - _ only."),
        )
        if received_on > self.today:
            raise DjangoValidationError({"date": [f"After the business date {self.today.isoformat()}."]})
        account = self.accounts.get(reference)
        if account is None:
            _unknown_account(reference)
        _duplicate(self.seen, bank_reference, line, f"Bank reference {bank_reference}")
        return {"received_on": received_on, "account": account, "amount": amount, "bank_reference": bank_reference}

    def apply(self, values: dict, *, line: int, dry_run: bool) -> Outcome:
        account, amount, bank_reference = values["account"], values["amount"], values["bank_reference"]
        cells = [values["received_on"].isoformat(), account.reference, format_cny(amount), bank_reference]
        try:
            repayment = repayment_post(
                account=account, amount=amount, external_ref=bank_reference, channel=Repayment.Channel.BANK_FILE,
                received_on=values["received_on"], actor=_actor(self),
            )
        except ConflictError as exc:
            details = exc.details or {}
            raise ConflictError(
                f"Bank reference {bank_reference} was already posted to account {details.get('account', '?')} for "
                f"¥{details.get('amount', '?')}: a different payment.", code=exc.code) from exc
        if getattr(repayment, "is_replay", False):
            self.add_to_summary("replayed", 1)
            return Outcome(SKIP, cells + [f"already posted on {repayment.posted_on.isoformat()} ({repayment.reference})"],
                           obj=repayment)
        self.add_to_summary("posted", 1)
        self.add_to_summary("total", amount)
        return Outcome(NEW, cells + [allocation_summary(repayment)], obj=repayment)


# --- The storefront's order export ---------------------------------------------------------------


@register
class StorefrontOrderImport(ServiceResource):
    """Purchases from the storefront's order export, authorised one by one through
    ``installments.services.purchase_authorize`` (limit, status and risk rules). The merchant order id
    is unique per account: an order already imported is skipped; a declined order fails the file."""

    key = "storefront_orders"
    example = {"order_id": "JD-100234", "account_reference": "ABCD2345EFGH", "amount": "599.00", "tenor": "6",
               "category": "electronics"}
    amount_field = "amount"
    title = _("Storefront order export")
    permission = "staff.import_storefrontorderimport"
    columns = (
        Column("order_id", _("The storefront's order id (unique per account)."), aliases=("merchant_order_id", "order")),
        Column("account_reference", _("The credit account's reference."), aliases=("account", "account_ref")),
        Column("amount", _("Order amount in yuan.")),
        Column("tenor", _("Installments: 3, 6, 12 or 24 (empty: pay with the next bill)."), required=False,
               aliases=("installments",)),
        Column("category", _("Merchant category."), required=False),
    )
    preview_headers = ("Order", "Account", "Amount", "Tenor", "What happens")
    summary_labels = {"approved": "Purchases approved", "held": "Held for review", "total": "Amount authorised"}

    def prepare(self, dataset) -> None:
        self.accounts = _accounts_by_reference(dataset)
        self.seen: dict = {}

    def parse(self, row: dict, line: int) -> dict:
        order_id, reference, amount, tenor, category = collect(
            lambda: cell_text(row, "order_id", max_length=64),
            lambda: cell_text(row, "account_reference", max_length=16, pattern=ACCOUNT_REF_PATTERN,
                              pattern_help="An account reference is 6–16 letters and digits.").upper(),
            lambda: cell_amount(row, "amount"),
            lambda: cell_int(row, "tenor", required=False, minimum=1, maximum=36),
            lambda: cell_text(row, "category", required=False, max_length=40),
        )
        account = self.accounts.get(reference)
        if account is None:
            _unknown_account(reference)
        _duplicate(self.seen, (reference, order_id), line, f"Order {order_id} of account {reference}")
        return {"order_id": order_id, "account": account, "amount": amount, "tenor": tenor, "category": category}

    def apply(self, values: dict, *, line: int, dry_run: bool) -> Outcome:
        account = values["account"]
        cells = [values["order_id"], account.reference, format_cny(values["amount"]),
                 str(values["tenor"]) if values["tenor"] else "revolving"]
        purchase = purchase_authorize(
            account=account, amount=values["amount"], merchant_order_id=values["order_id"], tenor=values["tenor"],
            category=values["category"], actor=_actor(self),
        )
        if getattr(purchase, "is_replay", False):
            return Outcome(SKIP, cells + [f"already imported ({purchase.reference}, {purchase.get_status_display().lower()})"],
                           obj=purchase)
        if purchase.status == Purchase.Status.HELD:
            self.add_to_summary("held", 1)
            return Outcome(NEW, cells + ["held for review: " + ", ".join(purchase.reason_codes)], obj=purchase)
        self.add_to_summary("approved", 1)
        self.add_to_summary("total", values["amount"])
        return Outcome(NEW, cells + [f"approved, posted to the bill of {purchase.cycle_bill_date.isoformat()}"], obj=purchase)


# --- Exports of the engine's and collections' records ---------------------------------------------


class StatementExportResource(LabelledModelResource):
    account_reference = ie_fields.Field(attribute="account__reference", column_name="account_reference")

    class Meta:
        model = Statement
        fields = ("account_reference", "bill_date", "due_date", "status", "opening_balance", "purchases_amount",
                  "installments_principal", "installments_fee", "deferral_fees", "late_fees", "premiums", "payments_amount",
                  "refunds_amount", "credit_applied", "adjustments", "closing_balance", "minimum_payment", "past_due",
                  "resolved_on")
        export_order = fields

    def filter_export(self, queryset, **kwargs):
        return queryset.select_related("account")


class ScheduleExportResource(LabelledModelResource):
    account_reference = ie_fields.Field(attribute="account__reference", column_name="account_reference")
    plan_reference = ie_fields.Field(attribute="plan__reference", column_name="plan_reference")
    plan_kind = ie_fields.Field(attribute="plan__kind", column_name="plan_kind")
    principal_open = ie_fields.Field(attribute="principal_open", column_name="principal_open")
    fee_open = ie_fields.Field(attribute="fee_open", column_name="fee_open")

    class Meta:
        model = ScheduleLine
        fields = ("account_reference", "plan_reference", "plan_kind", "period", "due_date", "principal", "fee",
                  "principal_paid", "fee_paid", "principal_open", "fee_open", "status", "billed_on", "closed_on")
        export_order = fields

    def filter_export(self, queryset, **kwargs):
        return queryset.select_related("account", "plan")


class RepaymentExportResource(LabelledModelResource):
    """Repayments with where the money went (sums of their allocations, one aggregate query)."""

    account_reference = ie_fields.Field(attribute="account__reference", column_name="account_reference")
    late_fees = ie_fields.Field(attribute="alloc_late_fee", column_name="to_late_fees")
    deferral_fees = ie_fields.Field(attribute="alloc_deferral_fee", column_name="to_deferral_fees")
    installment_fees = ie_fields.Field(attribute="alloc_installment_fee", column_name="to_installment_fees")
    settlement_fees = ie_fields.Field(attribute="alloc_settlement_fee", column_name="to_settlement_fees")
    premiums = ie_fields.Field(attribute="alloc_premium", column_name="to_premiums")  # issue 25: finance sees premiums
    principal = ie_fields.Field(attribute="alloc_principal", column_name="to_principal")

    class Meta:
        model = Repayment
        fields = ("reference", "account_reference", "external_ref", "channel", "kind", "status", "amount",
                  "received_on", "posted_on", "late_fees", "deferral_fees", "installment_fees", "settlement_fees",
                  "premiums", "principal", "to_credit_balance", "reversed_on")
        export_order = fields

    def filter_export(self, queryset, **kwargs):
        kinds = ("late_fee", "deferral_fee", "installment_fee", "settlement_fee", "premium", "principal")
        return queryset.select_related("account").annotate(
            **{f"alloc_{k}": Sum("allocations__amount", filter=Q(allocations__kind=k), default=ZERO) for k in kinds}
        )

    # SQLite sums decimals as floats: every amount is brought back to the cent.
    def dehydrate_late_fees(self, obj):
        return money(obj.alloc_late_fee)

    def dehydrate_deferral_fees(self, obj):
        return money(obj.alloc_deferral_fee)

    def dehydrate_installment_fees(self, obj):
        return money(obj.alloc_installment_fee)

    def dehydrate_settlement_fees(self, obj):
        return money(obj.alloc_settlement_fee)

    def dehydrate_premiums(self, obj):
        return money(obj.alloc_premium)

    def dehydrate_principal(self, obj):
        return money(obj.alloc_principal)


class PurchaseExportResource(LabelledModelResource):
    account_reference = ie_fields.Field(attribute="account__reference", column_name="account_reference")

    class Meta:
        model = Purchase
        fields = ("reference", "account_reference", "merchant_order_id", "amount", "tenor", "category", "status",
                  "requested_on", "posted_on", "cycle_bill_date", "refunded_amount")
        export_order = fields

    def filter_export(self, queryset, **kwargs):
        return queryset.select_related("account")


class CollectionAssignmentExportResource(LabelledModelResource):
    case_reference = ie_fields.Field(attribute="case__reference", column_name="case_reference")
    account_reference = ie_fields.Field(attribute="case__account__reference", column_name="account_reference")
    assignee = ie_fields.Field(attribute="assignee_display", column_name="assignee")
    amount_overdue = ie_fields.Field(attribute="case__amount_overdue", column_name="case_amount_overdue")
    case_status = ie_fields.Field(attribute="case__status", column_name="case_status")

    class Meta:
        model = CaseAssignment
        fields = ("case_reference", "account_reference", "bucket", "assignee", "started_on", "ended_on", "end_reason",
                  "case_status", "amount_overdue")
        export_order = fields

    def filter_export(self, queryset, **kwargs):
        return queryset.select_related("case__account", "collector__user", "agency")

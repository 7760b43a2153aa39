"""Exports of customers and credit lines (django-import-export resources).

Explicit fields only; personal data masked unless the caller hands in values it has already
revealed through the privacy app (which checks ``accounts.view_full_pii`` and logs the access).
Imports that create customers, accounts and limits call ``accounts.services`` and live with the
staff screens (``staff/resources.py``)."""
from __future__ import annotations

from import_export import fields

from accounts.models import CreditAccount, Customer, TemporaryLimit
from core.exports import LabelledModelResource
from core.masking import mask_address, mask_id_number, mask_mobile, mask_name


def _mask_email(value: str) -> str:
    if not value:
        return ""
    local, _, domain = value.partition("@")
    return (local[:1] + "***@" + domain) if domain else "***"


class CustomerExportResource(LabelledModelResource):
    """Customers with their account references. ``revealed`` maps a customer's pk to the personal
    values the privacy app released for this export; every other customer is masked."""

    name = fields.Field(column_name="name")
    id_number = fields.Field(column_name="id_number")
    mobile = fields.Field(column_name="mobile")
    email = fields.Field(column_name="email")
    address = fields.Field(column_name="address")
    accounts = fields.Field(column_name="accounts")

    MASKS = {"name": mask_name, "id_number": mask_id_number, "mobile": mask_mobile, "email": _mask_email,
             "address": mask_address}

    class Meta:
        model = Customer
        fields = ("reference", "name", "id_number", "mobile", "email", "address", "external_id", "accounts",
                  "processing_restricted", "created_at")
        export_order = fields
        import_id_fields = ("reference",)

    def __init__(self, *, revealed: dict[int, dict[str, str]] | None = None, **kwargs):
        super().__init__(**kwargs)
        self.revealed = revealed or {}

    def get_export_queryset(self, request=None):  # pragma: no cover - the admin passes its own queryset
        return self.filter_export(Customer.objects.all())

    def filter_export(self, queryset, **kwargs):
        return queryset.prefetch_related("accounts")

    def _personal(self, obj: Customer, field: str) -> str:
        full = self.revealed.get(obj.pk)
        if full is not None and field in full:
            return full[field]
        return self.MASKS[field](getattr(obj, field) or "")

    def dehydrate_name(self, obj):
        return self._personal(obj, "name")

    def dehydrate_id_number(self, obj):
        return self._personal(obj, "id_number")

    def dehydrate_mobile(self, obj):
        return self._personal(obj, "mobile")

    def dehydrate_email(self, obj):
        return self._personal(obj, "email")

    def dehydrate_address(self, obj):
        return self._personal(obj, "address")

    def dehydrate_accounts(self, obj):
        return " ".join(a.reference for a in obj.accounts.all())


class CreditAccountExportResource(LabelledModelResource):
    customer_reference = fields.Field(attribute="customer__reference", column_name="customer_reference")
    customer_name = fields.Field(column_name="customer_name")
    product_code = fields.Field(attribute="product__code", column_name="product")

    class Meta:
        model = CreditAccount
        fields = ("reference", "customer_reference", "customer_name", "product_code", "status", "freeze_reason",
                  "fixed_limit", "used_amount", "credit_balance", "bill_day", "dpd", "bucket", "opened_on",
                  "closed_on", "written_off_on")
        export_order = fields
        import_id_fields = ("reference",)

    def filter_export(self, queryset, **kwargs):
        return queryset.select_related("customer", "product")

    def dehydrate_customer_name(self, obj):
        return mask_name(obj.customer.name)


class OverdueAccountExportResource(CreditAccountExportResource):
    """Overdue accounts by bucket: what collections and risk work from."""

    customer_mobile = fields.Field(column_name="customer_mobile")

    class Meta(CreditAccountExportResource.Meta):
        fields = ("bucket", "dpd", "reference", "customer_reference", "customer_name", "customer_mobile",
                  "product_code", "status", "freeze_reason", "fixed_limit", "used_amount", "opened_on")
        export_order = fields

    def filter_export(self, queryset, **kwargs):
        return super().filter_export(queryset).filter(dpd__gt=0).order_by("-bucket", "-dpd", "pk")

    def dehydrate_customer_mobile(self, obj):
        return mask_mobile(obj.customer.mobile)


class TemporaryLimitExportResource(LabelledModelResource):
    account_reference = fields.Field(attribute="account__reference", column_name="account_reference")

    class Meta:
        model = TemporaryLimit
        fields = ("account_reference", "amount", "starts_on", "ends_on", "campaign", "status", "created_at")
        export_order = fields

    def filter_export(self, queryset, **kwargs):
        return queryset.select_related("account")

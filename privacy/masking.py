"""Personal data as screens, exports and the API should show it: masked by default; in full only for
a user with ``accounts.view_full_pii`` who gives a reason, and then the access is logged.

    from privacy.masking import customer_pii_for
    customer_pii_for(request.user, customer)                       # masked (no log)
    customer_pii_for(request.user, customer, reveal=True, reason="call-back on dispute 123")  # full + logged
"""
from __future__ import annotations

from typing import Any

from core.masking import mask_address, mask_id_number, mask_mobile, mask_name

VIEW_FULL_PII = "accounts.view_full_pii"
PII_FIELDS = ("name", "id_number", "mobile", "address", "email")


def mask_email(value: str | None) -> str:
    if not value:
        return ""
    local, _, domain = value.partition("@")
    return (local[:1] + "***@" + domain) if domain else "***"


_MASKS = {
    "name": mask_name,
    "id_number": mask_id_number,
    "mobile": mask_mobile,
    "address": mask_address,
    "email": mask_email,
}


def can_view_full_pii(user: Any) -> bool:
    return bool(
        user is not None and user.is_authenticated and user.is_active and user.is_staff and user.has_perm(VIEW_FULL_PII)
    )


def masked_pii(customer) -> dict[str, str]:
    """Every personal field of ``customer``, masked."""
    return {f: _MASKS[f](getattr(customer, f)) for f in PII_FIELDS}


def full_pii(customer, fields: tuple[str, ...] = PII_FIELDS) -> dict[str, str]:
    """Clear values — only for code that has already checked the permission and logged the access
    (``privacy.services.pii_unmask``)."""
    return {f: getattr(customer, f) or "" for f in fields}


def customer_pii_for(
    user: Any,
    customer,
    *,
    reveal: bool = False,
    reason: str = "",
    channel: str = "api",
    ip_address: str | None = None,
    fields: tuple[str, ...] = PII_FIELDS,
) -> dict[str, str]:
    """Masked values unless ``reveal`` is asked for. Revealing needs the permission and a reason
    and writes a ``PiiAccessLog`` row; without the permission it raises ``PermissionDeniedError``."""
    if not reveal:
        return {f: v for f, v in masked_pii(customer).items() if f in fields}
    from privacy.services import pii_unmask

    return pii_unmask(user=user, customer=customer, reason=reason, fields=fields, channel=channel, ip_address=ip_address)

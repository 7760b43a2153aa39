"""The customer and account change pages as a workspace (360°): header, tabs, and buttons for the
actions the user's permissions allow.

A button opens the same form the list action shows (reason, amount…) for this one account and calls
the same service; the server checks the permission again (``ModelAdmin.get_actions`` filters the
actions by permission, and the page's queryset is the user's scoped one), so a button posted by hand
without the permission answers 403."""
from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import urlencode

from django.contrib import admin
from django.contrib.admin.utils import unquote
from django.core.exceptions import PermissionDenied
from django.http import HttpResponseRedirect
from django.urls import NoReverseMatch, path, reverse
from django.utils.translation import gettext as _

from accounts.models import CreditAccount, Customer
from core.admin_utils import badge
from staff.workspace import workspace_for

#: The account actions offered as buttons, in order, with the account states they make sense in.
ACCOUNT_BUTTONS: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("adjust_limit", (CreditAccount.Status.ACTIVE, CreditAccount.Status.FROZEN)),
    ("grant_temporary_limit", (CreditAccount.Status.ACTIVE,)),
    ("freeze", (CreditAccount.Status.ACTIVE, CreditAccount.Status.FROZEN)),
    ("unfreeze", (CreditAccount.Status.FROZEN,)),
    ("close", (CreditAccount.Status.ACTIVE, CreditAccount.Status.FROZEN)),
)


@dataclass(frozen=True)
class Button:
    label: str
    url: str


def _status_badge(account: CreditAccount) -> str:
    if account.status == CreditAccount.Status.FROZEN:
        return badge(account.freeze_reason or "frozen",
                     f"{account.get_status_display()} ({account.get_freeze_reason_display().lower()})")
    return badge(account.status, account.get_status_display())


def account_buttons(request, account: CreditAccount) -> list[Button]:
    """The buttons of one account for this user (only what the permissions allow)."""
    account_admin = admin.site._registry[CreditAccount]
    actions = account_admin.get_actions(request)
    buttons = []
    for name, states in ACCOUNT_BUTTONS:
        if name in actions and account.status in states:
            buttons.append(Button(str(actions[name][2]), reverse("admin:accounts_creditaccount_act", args=[account.pk, name])))
    if request.user.has_perm("installments.post_repayment") and account.status != CreditAccount.Status.CLOSED:
        url = reverse("admin:installments_repayment_add") + "?" + urlencode({"account_reference": account.reference})
        buttons.append(Button(_("Post a repayment"), url))
    return buttons


def customer_buttons(request, customer: Customer) -> list[Button]:
    buttons = []
    if request.user.has_perm("accounts.view_full_pii") and customer.anonymised_at is None:
        try:
            buttons.append(Button(_("Show in full (logged)…"), reverse("admin:privacy_unmask", args=[customer.pk])))
        except NoReverseMatch:  # pragma: no cover - the privacy app is installed
            pass
    if request.user.has_perm("accounts.add_creditaccount"):
        buttons.append(Button(_("Open an account"),
                              reverse("admin:accounts_creditaccount_add") + "?" + urlencode({"customer": customer.pk})))
    return buttons


class WorkspaceAdminMixin:
    """For ``CustomerAdmin`` and ``CreditAccountAdmin``: the change page becomes the workspace, and a
    collector (who works cases without managing them) sees only the customers of their own cases."""

    change_form_template = "admin/staff/workspace_change_form.html"

    def workspace_subject(self, obj) -> tuple[Customer, CreditAccount | None]:
        raise NotImplementedError

    def change_view(self, request, object_id, form_url="", extra_context=None):
        obj = self.get_object(request, unquote(object_id)) if object_id else None
        if obj is not None and self.has_view_or_change_permission(request, obj):
            customer, account = self.workspace_subject(obj)
            ws = workspace_for(user=request.user, customer=customer, account=account, tab=request.GET.get("tab", "details"))
            extra_context = {**(extra_context or {}), **self._workspace_context(request, ws, account)}
        return super().change_view(request, object_id, form_url, extra_context)

    def _workspace_context(self, request, ws, account) -> dict:
        lines = []
        for line in ws.accounts:
            line.url = reverse("admin:accounts_creditaccount_change", args=[line.account.pk])
            line.status_badge = _status_badge(line.account)
            line.buttons = account_buttons(request, line.account)
            lines.append(line)
        customer_admin = admin.site._registry[Customer]
        customer_url = (reverse("admin:accounts_customer_change", args=[ws.customer.pk])
                        if account is not None and customer_admin.has_view_permission(request) else "")
        return {"ws": ws, "ws_lines": lines, "ws_customer_url": customer_url,
                "ws_customer_buttons": customer_buttons(request, ws.customer)}


class CreditAccountWorkspaceMixin(WorkspaceAdminMixin):
    #: the list actions that are also buttons on the page
    object_actions = tuple(name for name, _states in ACCOUNT_BUTTONS)

    def workspace_subject(self, obj):
        return obj.customer, obj

    def get_urls(self):
        return [
            path("<path:object_id>/act/<str:action>/", self.admin_site.admin_view(self.object_action_view),
                 name="accounts_creditaccount_act"),
            *super().get_urls(),
        ]

    def object_action_view(self, request, object_id, action):
        """One account's action (the list action's form and service), behind the same permission."""
        obj = self.get_object(request, unquote(object_id))
        if obj is None or not self.has_view_permission(request, obj):
            raise PermissionDenied
        actions = self.get_actions(request)
        if action not in self.object_actions or action not in actions:
            raise PermissionDenied
        func = actions[action][0]
        response = func(self, request, self.get_queryset(request).filter(pk=obj.pk))
        if response is None:  # done (or refused, with the reason as a message): back to the account
            return HttpResponseRedirect(reverse("admin:accounts_creditaccount_change", args=[obj.pk]) + "?tab=timeline")
        return response


class CustomerWorkspaceMixin(WorkspaceAdminMixin):

    def workspace_subject(self, obj):
        return obj, None


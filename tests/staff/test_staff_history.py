"""Audit history on the change pages (django-simple-history): who changed what and when, for every
model that keeps it; a change made through an admin action names the staff user."""
from __future__ import annotations

from decimal import Decimal

import pytest
from django.contrib import admin
from django.urls import reverse
from simple_history.admin import SimpleHistoryAdmin
from simple_history.models import HistoricalChanges

from tests.factories import CreditAccountFactory
from tests.factories_staff import role_user


def tracked_models():
    return sorted(
        (m for m in admin.site._registry if hasattr(getattr(m, "history", None), "model") and issubclass(m.history.model, HistoricalChanges)),
        key=lambda m: m._meta.label,
    )


def test_every_model_with_history_shows_it_from_its_admin_page():
    labels = [m._meta.label for m in tracked_models()]
    assert {"accounts.Customer", "accounts.CreditAccount", "accounts.CreditProduct"} <= set(labels)
    for model in tracked_models():
        assert isinstance(admin.site._registry[model], SimpleHistoryAdmin), f"{model._meta.label}: use SimpleHistoryAdmin"


def test_a_freeze_by_an_officer_shows_in_the_account_history_with_who_and_what(client, business_date):
    officer = role_user("Credit officer")
    client.force_login(officer)
    account = CreditAccountFactory(fixed_limit=Decimal("8000.00"))
    url = reverse("admin:accounts_creditaccount_changelist")
    client.post(url, {"action": "freeze", "_selected_action": [account.pk], "_form_action_apply": "1", "reason": "fraud"})
    client.post(url, {"action": "adjust_limit", "_selected_action": [account.pk], "_form_action_apply": "1",
                      "new_limit": "6000", "reason": "risk review"})
    history = account.history.order_by("history_id")
    assert [(h.history_type, h.status, h.fixed_limit, getattr(h.history_user, "username", None)) for h in history] == [
        ("+", "active", Decimal("8000.00"), None),
        ("~", "frozen", Decimal("8000.00"), "credit_officer"),
        ("~", "frozen", Decimal("6000.00"), "credit_officer"),
    ]
    page = client.get(reverse("admin:accounts_creditaccount_history", args=[account.pk]))
    assert page.status_code == 200
    body = page.content.decode()
    assert body.count("credit_officer") >= 2 and "Fixed limit" in body


@pytest.mark.parametrize("role", ["Auditor", "Risk analyst"])
def test_read_only_roles_can_read_the_history(client, business_date, role):
    client.force_login(role_user(role))
    account = CreditAccountFactory()
    assert client.get(reverse("admin:accounts_creditaccount_history", args=[account.pk])).status_code == 200

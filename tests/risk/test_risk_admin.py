"""The risk admin: fixed query counts, masked personal data, the officer's queue and the
campaign and scorecard actions through the services."""
from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from accounts.models import CreditAccount
from risk.models import (
    AccountScore,
    Application,
    BlacklistEntry,
    Campaign,
    CampaignGrant,
    CreditDecision,
    LimitReview,
    ReviewCase,
    RiskEvent,
    RiskRule,
    ScoreBand,
    ScorecardVersion,
)
from risk.services import application_submit
from tests.factories import CreditProductFactory
from tests.factories_installments import open_account
from tests.factories_risk import application_payload, german_row_scoring, german_version

pytestmark = pytest.mark.django_db


@pytest.fixture
def root(client, django_user_model, business_date):
    user = django_user_model.objects.create_superuser("root", "root@example.com", "x-Very-long-pass-1")
    client.force_login(user)
    client.user = user
    return client


def _declined(n: int, start: int = 0) -> list[Application]:
    _, row, _ = german_row_scoring(lambda s: s < 500)
    return [application_submit(**application_payload(row, 500 + start + i)) for i in range(n)]


def _queries(client, url) -> tuple[int, str]:
    with CaptureQueriesContext(connection) as ctx:
        response = client.get(url)
    assert response.status_code == 200, url
    return len(ctx.captured_queries), response.content.decode()


def _populate(k: int, start: int) -> None:
    """k of everything the changelists show."""
    apps = _declined(k, start)
    for i, app in enumerate(apps):
        account = open_account()
        AccountScore.objects.create(account=account, scored_on=dt.date(2026, 1, 1), source="application", score=560)
        LimitReview.objects.create(account=account, reviewed_on=dt.date(2026, 1, 1), action="none", rule="no_change",
                                   old_limit=Decimal("10000.00"), new_limit=Decimal("10000.00"))
        RiskEvent.objects.create(rule="purchase_velocity", stage="purchase", severity="high", outcome="decline",
                                 account=account, subject_ref=f"o-{start + i}", business_date=dt.date(2026, 1, 5))


LISTS = [Application, CreditDecision, ReviewCase, RiskEvent, AccountScore, LimitReview, ScorecardVersion, RiskRule,
         ScoreBand, BlacklistEntry, Campaign, CampaignGrant]


@pytest.mark.parametrize("model", LISTS, ids=lambda m: m._meta.model_name)
def test_changelists_use_a_fixed_number_of_queries(root, model):
    CreditProductFactory()
    german_version()
    url = reverse(f"admin:risk_{model._meta.model_name}_changelist")
    _populate(1, 0)
    few, _ = _queries(root, url)
    _populate(3, 100)
    many, _ = _queries(root, url)
    assert few == many


def test_applications_are_masked(root):
    CreditProductFactory()
    german_version()
    (application,) = _declined(1)
    for url in (reverse("admin:risk_application_changelist"), reverse("admin:risk_application_change", args=[application.pk]),
                reverse("admin:risk_reviewcase_change", args=[application.review_cases.get().pk])):
        _, body = _queries(root, url)
        assert application.id_number not in body and application.mobile not in body and application.name not in body
    _, body = _queries(root, reverse("admin:risk_application_changelist"))
    assert application.masked_mobile in body and application.id_number_last4 in body


def test_scorecard_version_page_shows_the_evaluation_and_bins_then_activate(root):
    version = german_version(active=False)
    version.metrics = {"cv": {"folds": 5, "auc": 0.7867, "ks": 0.48, "gini": 0.5734, "per_fold": []},
                       "holdout": {"n": 250, "auc": 0.8051, "ks": 0.51, "gini": 0.61}}
    version.save()
    _, body = _queries(root, reverse("admin:risk_scorecardversion_change", args=[version.pk]))
    assert "0.7867" in body and "0.8051" in body and "status_of_existing_checking_account" in body and "no checking account" in body
    response = root.post(reverse("admin:risk_scorecardversion_changelist"),
                         {"action": "activate", "_selected_action": [version.pk]}, follow=True)
    assert response.status_code == 200
    version.refresh_from_db()
    assert (version.status, version.activated_by) == ("active", root.user)


def test_officer_approves_from_the_queue_with_a_reason(root):
    CreditProductFactory()
    german_version()
    (application,) = _declined(1)
    case = application.review_cases.get()
    url = reverse("admin:risk_reviewcase_changelist")
    form = {"action": "approve", "_selected_action": [case.pk], "_form_action_apply": "1", "limit": "2500.00"}
    # without a reason the form comes back and nothing changes
    response = root.post(url, {**form, "reason": ""})
    assert response.status_code == 200 and b"This field is required" in response.content
    assert not CreditAccount.objects.exists() and ReviewCase.objects.get().status == "open"
    root.post(url, {**form, "reason": "payslips checked"}, follow=True)
    case.refresh_from_db(), application.refresh_from_db()
    assert (case.status, case.resolved_by, case.resolution_reason) == ("approved", root.user, "payslips checked")
    assert application.account.fixed_limit == Decimal("2500.00")


def test_officer_declines_from_the_queue(root):
    CreditProductFactory()
    german_version()
    (application,) = _declined(1)
    case = application.review_cases.get()
    root.post(reverse("admin:risk_reviewcase_changelist"),
              {"action": "decline", "_selected_action": [case.pk], "_form_action_apply": "1", "reason": "fraud suspicion"})
    case.refresh_from_db()
    assert (case.status, case.resolution_reason) == ("declined", "fraud suspicion")


def test_staff_without_the_queue_permission_do_not_see_its_actions(client, django_user_model, business_date):
    from django.contrib.auth.models import Permission

    CreditProductFactory()
    german_version()
    (application,) = _declined(1)
    user = django_user_model.objects.create_user("viewer", password="x-Very-long-pass-1", is_staff=True)
    # Reading other people's customers needs view_all_customers (without it: only own collection cases').
    user.user_permissions.add(Permission.objects.get(codename="view_reviewcase"),
                              Permission.objects.get(codename="view_all_customers"))
    client.force_login(user)
    _, body = _queries(client, reverse("admin:risk_reviewcase_changelist"))
    assert application.review_cases.get().reference in body
    assert 'value="approve"' not in body and 'value="decline"' not in body
    user.user_permissions.add(Permission.objects.get(codename="work_reviewcase"))
    user = django_user_model.objects.get(pk=user.pk)
    client.force_login(user)
    _, body = _queries(client, reverse("admin:risk_reviewcase_changelist"))
    assert 'value="approve"' in body and 'value="decline"' in body


def test_campaign_preview_and_grant_actions(root):
    account = open_account()
    from accounts.services import consent_record

    consent_record(customer=account.customer, kind="marketing", version="1", granted=True)
    campaign = Campaign.objects.create(name="618", amount_kind="fixed", amount_value=Decimal("1000"),
                                       starts_on=dt.date(2026, 1, 5), ends_on=dt.date(2026, 1, 20))
    url = reverse("admin:risk_campaign_changelist")
    root.post(url, {"action": "preview", "_selected_action": [campaign.pk]})
    campaign.refresh_from_db()
    assert (campaign.preview_count, campaign.preview_exposure) == (1, Decimal("1000.00"))
    root.post(url, {"action": "grant", "_selected_action": [campaign.pk]})
    campaign.refresh_from_db()
    assert (campaign.status, campaign.granted_count) == ("granted", 1)
    _, body = _queries(root, reverse("admin:risk_campaign_change", args=[campaign.pk]))
    assert "Uptake" in body and "Delinquency" in body


def test_rule_and_band_edits_go_through_the_services_with_an_audit_row(root):
    from core.models import AuditEvent

    rule = RiskRule.objects.get(code="purchase_velocity")
    url = reverse("admin:risk_riskrule_change", args=[rule.pk])
    response = root.post(url, {"enabled": "on", "outcome": "review", "severity": "high", "params": '{"max_count": 0}'})
    assert response.status_code == 200  # refused: shown again
    rule.refresh_from_db()
    assert rule.params == {"max_count": 5, "window_minutes": 10}
    root.post(url, {"enabled": "on", "outcome": "review", "severity": "high", "params": '{"max_count": 8}'})
    rule.refresh_from_db()
    assert (rule.outcome, rule.params) == ("review", {"max_count": 8})
    assert AuditEvent.objects.filter(action="risk_rule_change").count() == 1
    band = ScoreBand.objects.get(name="A")
    root.post(reverse("admin:risk_scoreband_change", args=[band.pk]),
              {"name": "A", "min_score": "660", "limit": "25000.00", "action": "approve"})
    band.refresh_from_db()
    assert (band.min_score, band.limit) == (660, Decimal("25000.00"))
    assert AuditEvent.objects.filter(action="score_band_change").count() == 1


def test_blacklist_add_stores_only_a_hash(root):
    root.post(reverse("admin:risk_blacklistentry_add"), {"kind": "mobile", "value": "13912345678", "reason": "mule"})
    entry = BlacklistEntry.objects.get()
    assert entry.value_hint == "139****5678" and "13912345678" not in entry.value_hash
    assert entry.added_by == root.user

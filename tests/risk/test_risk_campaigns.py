"""Temporary-limit campaigns: segment by rules, preview = grant, expiry on the date, uptake and
delinquency."""
from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest

from accounts.models import BucketChange, Customer, LimitChange, TemporaryLimit
from accounts.selectors import account_available
from accounts.services import account_freeze, consent_record, temporary_limits_expire
from core.actors import Actor
from core.errors import BusinessRuleError, ConflictError
from installments.services import purchase_authorize
from risk.models import AccountScore, Campaign, CampaignGrant, CampaignUse
from risk.services import campaign_grant, campaign_preview
from risk.services.campaigns import campaign_report, campaign_segment
from tests.factories_installments import open_account

pytestmark = pytest.mark.django_db
D = Decimal
ON = dt.date(2026, 1, 5)
SYSTEM = Actor.system("test")


def member(*, score=560, spend=None, marketing=True, limit="10000.00"):
    account = open_account(limit=limit, opened_on=dt.date(2025, 6, 1))
    if marketing is not None:
        consent_record(customer=account.customer, kind="marketing", version="1.0", granted=marketing)
    if score is not None:
        AccountScore.objects.create(account=account, scored_on=dt.date(2025, 6, 1), source="application", score=score)
    if spend:
        purchase_authorize(account=account, amount=D(spend), merchant_order_id=f"s-{account.pk}", actor=SYSTEM)
    account.refresh_from_db()
    return account


@pytest.fixture
def accounts(business_date):
    withdrawn = member()
    consent_record(customer=withdrawn.customer, kind="marketing", version="1.1", granted=False)
    was_overdue = member()
    BucketChange.objects.create(account=was_overdue, on_date=dt.date(2025, 10, 2), old_bucket="M0", new_bucket="M1", dpd=1)
    BucketChange.objects.create(account=was_overdue, on_date=dt.date(2025, 10, 20), old_bucket="M1", new_bucket="M0", dpd=0)
    long_ago = member()
    BucketChange.objects.create(account=long_ago, on_date=dt.date(2025, 6, 20), old_bucket="M0", new_bucket="M1", dpd=1)
    BucketChange.objects.create(account=long_ago, on_date=dt.date(2025, 7, 1), old_bucket="M1", new_bucket="M0", dpd=0)
    frozen = member()
    account_freeze(account=frozen, manual=True, actor=SYSTEM, reason="investigation")
    restricted = member()
    Customer.objects.filter(pk=restricted.customer_id).update(processing_restricted=True)
    return {
        "restricted": restricted,
        "in_c": member(score=560, spend="3000.00"),
        "in_b": member(score=610, limit="7350.00"),
        "long_ago": long_ago,
        "band_d": member(score=510),
        "no_score": member(score=None),
        "high_use": member(score=560, spend="9500.00"),
        "no_consent": member(marketing=None),
        "withdrawn": withdrawn,
        "was_overdue": was_overdue,
        "frozen": frozen,
    }


def campaign(**kw) -> Campaign:
    fields = dict(name="Double 11", bands=["B", "C"], max_utilisation=D("0.90"), amount_kind="share",
                  amount_value=D("0.25"), starts_on=ON, ends_on=ON + dt.timedelta(days=30))
    fields.update(kw)
    return Campaign.objects.create(**fields)


def test_segment_by_band_utilisation_no_overdue_and_marketing_consent(accounts):
    segment = campaign_segment(campaign())
    assert [r.account_id for r in segment.rows] == sorted(accounts[k].pk for k in ("in_c", "in_b", "long_ago"))
    amounts = {r.account_id: r.amount for r in segment.rows}
    assert amounts[accounts["in_b"].pk] == D("1800.00")  # 25 % of 7,350 = 1,837.50, down to the 100
    assert amounts[accounts["in_c"].pk] == D("2500.00")
    assert (segment.count, segment.exposure) == (3, D("6800.00"))


def test_preview_equals_what_is_granted(accounts, staff_user):
    c = campaign()
    preview = campaign_preview(campaign=c, user=staff_user)
    c.refresh_from_db()
    assert (c.preview_count, c.preview_exposure) == (3, D("6800.00"))
    granted = campaign_grant(campaign=c, user=staff_user, expected_fingerprint=c.preview_fingerprint)
    c.refresh_from_db()
    assert (granted.count, granted.exposure) == (preview.count, preview.exposure)
    assert (c.status, c.granted_count, c.granted_exposure, c.granted_by) == ("granted", 3, D("6800.00"), staff_user)
    temps = TemporaryLimit.objects.filter(campaign="Double 11").order_by("account_id")
    assert [(t.account_id, t.amount, t.starts_on, t.ends_on) for t in temps] == [
        (r.account_id, r.amount, ON, ON + dt.timedelta(days=30)) for r in preview.rows]
    assert sum(t.amount for t in temps) == c.preview_exposure
    assert CampaignGrant.objects.filter(campaign=c).count() == 3
    changes = LimitChange.objects.filter(kind="temporary", temporary_limit__in=temps)
    assert changes.count() == 3 and {ch.actor for ch in changes} == {staff_user}
    with pytest.raises(BusinessRuleError):
        campaign_grant(campaign=c, user=staff_user)


def test_grant_refuses_when_the_segment_changed_since_the_preview(accounts, staff_user):
    c = campaign()
    campaign_preview(campaign=c, user=staff_user)
    consent_record(customer=accounts["in_c"].customer, kind="marketing", version="1.2", granted=False)
    with pytest.raises(ConflictError) as exc:
        campaign_grant(campaign=c, user=staff_user)
    assert exc.value.details == {"previewed": 3, "now": 2}
    assert not TemporaryLimit.objects.exists() and not CampaignGrant.objects.exists()
    c.refresh_from_db()
    assert c.status == "draft"


def test_grant_needs_a_preview(accounts, staff_user):
    with pytest.raises(BusinessRuleError) as exc:
        campaign_grant(campaign=campaign(), user=staff_user)
    assert exc.value.code == "preview_required"


def test_temporary_limits_expire_on_their_date(accounts, staff_user, business_date):
    c = campaign(bands=[], max_utilisation=None, amount_kind="fixed", amount_value=D("3000"),
                 ends_on=ON + dt.timedelta(days=10))
    campaign_preview(campaign=c, user=staff_user)
    granted = campaign_grant(campaign=c, user=staff_user)
    assert granted.count == 6  # any band, any utilisation: in_c, in_b, long_ago, band_d, no_score, high_use
    account = accounts["in_c"]
    account.refresh_from_db()
    assert account_available(account=account, on=ON + dt.timedelta(days=10)) == D("10000.00")  # 10,000 + 3,000 − 3,000
    assert account_available(account=account, on=ON + dt.timedelta(days=11)) == D("7000.00")
    assert temporary_limits_expire(on=ON + dt.timedelta(days=10)) == 0  # still valid on its last day
    expired = temporary_limits_expire(on=ON + dt.timedelta(days=11))
    assert expired == 6 and not TemporaryLimit.objects.filter(status="active").exists()


def test_uptake_and_delinquency(accounts, staff_user, business_date):
    c = campaign()
    campaign_preview(campaign=c, user=staff_user)
    campaign_grant(campaign=c, user=staff_user)
    user = accounts["in_c"]  # fixed 10,000, used 3,000, temporary 2,500
    purchase_authorize(account=user, amount=D("6000.00"), merchant_order_id="inside-fixed", actor=SYSTEM)
    assert not CampaignUse.objects.exists()
    purchase_authorize(account=user, amount=D("2000.00"), merchant_order_id="draws-on-temp", actor=SYSTEM)
    use = CampaignUse.objects.get()
    assert (use.merchant_order_id, use.amount, use.above_fixed) == ("draws-on-temp", D("2000.00"), D("1000.00"))
    BucketChange.objects.create(account=accounts["in_b"], on_date=ON + dt.timedelta(days=20), old_bucket="M0",
                                new_bucket="M1", dpd=1)
    report = campaign_report(c, on=ON + dt.timedelta(days=25))
    assert (report.granted_accounts, report.granted_exposure) == (3, D("6800.00"))
    assert (report.uptake_accounts, report.uptake_purchases, report.uptake_amount) == (1, 1, D("1000.00"))
    assert report.uptake_rate == D("0.3333") and report.delinquent_accounts == 1

"""Temporary-limit campaigns (the seed's precision marketing): a segment by rules, a preview of
how many accounts and how much exposure, a bulk grant that gives exactly what was previewed, and
later the uptake and delinquency of the campaign."""
from __future__ import annotations

import datetime as dt
import hashlib
from dataclasses import dataclass, field
from decimal import Decimal

from django.db import transaction
from django.db.models import Exists, OuterRef, Q, Sum
from django.utils import timezone

from accounts.limits import LimitPolicyError
from accounts.models import BucketChange, CreditAccount
from accounts.services import temporary_limit_grant
from approvals.registry import ApprovalKind, register_kind
from approvals.services import approval_submit
from core.actors import Actor
from core.audit import audit_record
from core.business_date import get_business_date
from core.errors import BusinessRuleError, ConflictError, ValidationError
from core.money import ZERO
from risk.models import Campaign, CampaignGrant, CampaignUse
from risk.rules import band_for, campaign_amount, months_before, utilisation
from risk.selectors import latest_score_subquery, marketing_consent_subquery, score_bands


@dataclass(frozen=True)
class SegmentRow:
    account_id: int
    account_reference: str
    fixed_limit: Decimal
    utilisation: Decimal | None
    score: int | None
    band: str
    amount: Decimal


@dataclass
class SegmentPreview:
    rows: list[SegmentRow] = field(default_factory=list)

    @property
    def count(self) -> int:
        return len(self.rows)

    @property
    def exposure(self) -> Decimal:
        return sum((r.amount for r in self.rows), ZERO)

    @property
    def fingerprint(self) -> str:
        text = ";".join(f"{r.account_id}:{r.amount}" for r in self.rows)
        return hashlib.sha256(text.encode()).hexdigest()


def campaign_segment(campaign: Campaign, *, on: dt.date | None = None) -> SegmentPreview:
    """The accounts the campaign's rules select today, each with the amount it would get."""
    on = on or get_business_date()
    bands = score_bands()
    qs = CreditAccount.objects.filter(
        status=CreditAccount.Status.ACTIVE, written_off_on__isnull=True,
        # PIPL: a restricted (storage only) or anonymised customer is never marketed to
        customer__processing_restricted=False, customer__anonymised_at__isnull=True,
    ).exclude(Exists(CampaignGrant.objects.filter(campaign=campaign, account=OuterRef("pk"))))
    if campaign.require_marketing_consent:
        qs = qs.annotate(marketing=marketing_consent_subquery()).filter(marketing=True)
    if campaign.require_no_overdue:
        start = months_before(on, campaign.no_overdue_months)
        delinquent = BucketChange.objects.filter(account=OuterRef("pk"), on_date__gt=start, on_date__lte=on).filter(
            ~Q(new_bucket=CreditAccount.Bucket.M0) | ~Q(old_bucket=CreditAccount.Bucket.M0)
        )
        qs = qs.filter(dpd=0).exclude(Exists(delinquent))
    qs = qs.annotate(latest_score=latest_score_subquery(on)).order_by("pk")
    wanted_bands = set(campaign.bands or [])
    preview = SegmentPreview()
    for pk, reference, fixed, used, score in qs.values_list("pk", "reference", "fixed_limit", "used_amount", "latest_score"):
        band = band_for(score, bands).name if score is not None else ""
        if wanted_bands and band not in wanted_bands:
            continue
        share = utilisation(used, fixed)
        # exact comparisons on the amounts (the share shown is truncated to 4 places)
        if campaign.min_utilisation is not None and (fixed <= 0 or used < fixed * campaign.min_utilisation):
            continue
        if campaign.max_utilisation is not None and (fixed <= 0 or used > fixed * campaign.max_utilisation):
            continue
        amount = campaign_amount(kind=campaign.amount_kind, value=campaign.amount_value, fixed_limit=fixed,
                                 unit=campaign.amount_unit)
        if amount <= 0:
            continue
        preview.rows.append(SegmentRow(pk, reference, fixed, share, score, band, amount))
    return preview


def _check_campaign(campaign: Campaign, on: dt.date) -> None:
    if campaign.status != Campaign.Status.DRAFT:
        raise BusinessRuleError(f"Campaign {campaign.name} has already been granted.", code="campaign_granted")
    if campaign.ends_on < on:
        raise BusinessRuleError("The campaign has already ended.", code="campaign_ended")
    unknown = set(campaign.bands or []) - {b.name for b in score_bands()}
    if unknown:
        raise ValidationError(f"Unknown score bands: {', '.join(sorted(unknown))}.", code="unknown_band")


@transaction.atomic
def campaign_preview(*, campaign: Campaign, user) -> SegmentPreview:
    """Compute the segment and remember its count, exposure and fingerprint on the campaign."""
    Actor.staff(user)
    campaign = Campaign.objects.select_for_update().get(pk=campaign.pk)
    on = get_business_date()
    _check_campaign(campaign, on)
    preview = campaign_segment(campaign, on=on)
    campaign.preview_count, campaign.preview_exposure = preview.count, preview.exposure
    campaign.preview_fingerprint, campaign.previewed_at = preview.fingerprint, timezone.now()
    campaign.save(update_fields=["preview_count", "preview_exposure", "preview_fingerprint", "previewed_at", "updated_at"])
    return preview


@transaction.atomic
def campaign_grant(*, campaign: Campaign, user, expected_fingerprint: str | None = None) -> SegmentPreview:
    """Grant the previewed temporary limits, all or none. The segment is recomputed under the
    campaign's lock: if it is no longer exactly what staff previewed (an account went overdue,
    withdrew consent…), nothing is granted and staff preview again."""
    actor = Actor.staff(user)
    campaign = Campaign.objects.select_for_update().get(pk=campaign.pk)
    on = get_business_date()
    _check_campaign(campaign, on)
    if not campaign.preview_fingerprint:
        raise BusinessRuleError("Preview the campaign before granting it.", code="preview_required")
    expected = expected_fingerprint or campaign.preview_fingerprint
    preview = campaign_segment(campaign, on=on)
    if preview.fingerprint != expected or expected != campaign.preview_fingerprint:
        raise ConflictError(
            "The segment changed since the preview: preview again before granting.", code="segment_changed",
            details={"previewed": campaign.preview_count, "now": preview.count},
        )
    if not preview.rows:
        raise BusinessRuleError("The segment is empty.", code="segment_empty")
    starts_on = max(campaign.starts_on, on)
    preview.waiting = []
    for row in preview.rows:
        # Through the approvals gate (issue 23): temporary limits add up per account across campaigns,
        # campaign lists and staff (a second campaign's ¥9,000 on a line that already got ¥9,000 waits);
        # the limit policy (accounts.limits) binds campaigns too: a refusal grants nothing at all.
        try:
            submitted = approval_submit(
                kind=CAMPAIGN_GRANT_KIND,
                payload={"campaign_id": campaign.pk, "account_id": row.account_id, "amount": str(row.amount),
                         "starts_on": starts_on.isoformat(), "ends_on": campaign.ends_on.isoformat()},
                amount=row.amount, base=row.fixed_limit, target=campaign, account=row.account_id, actor=actor,
                reason=f"campaign {campaign.name}",
                summary=f"Campaign {campaign.name}: temporary limit {row.amount} for {row.account_reference} "
                        f"from {starts_on} through {campaign.ends_on}",
                before=row.fixed_limit, after=row.fixed_limit + row.amount,
            )
        except LimitPolicyError as exc:
            raise LimitPolicyError(f"Account {row.account_reference}: {exc.message} Nothing was granted.",
                                   code=exc.code, details={**exc.details, "account": row.account_reference}) from None
        if not submitted.applied:
            preview.waiting.append(row)
    granted = [r for r in preview.rows if r not in preview.waiting]
    campaign.status = Campaign.Status.GRANTED
    campaign.granted_count, campaign.granted_exposure = len(granted), sum((r.amount for r in granted), ZERO)
    campaign.granted_at, campaign.granted_by = timezone.now(), user
    campaign.save(update_fields=["status", "granted_count", "granted_exposure", "granted_at", "granted_by", "updated_at"])
    audit_record(actor=actor, action="campaign_grant", obj=campaign, reason=f"campaign {campaign.name}",
                 new={"accounts": len(granted), "exposure": str(campaign.granted_exposure),
                      "waiting": len(preview.waiting)})
    return preview


CAMPAIGN_GRANT_KIND = "risk.campaign_grant"


def _execute_campaign_grant(payload: dict, *, actor: Actor, approval=None) -> CampaignGrant:
    """One account's campaign temporary limit (at once within the thresholds, or approved)."""
    from approvals.services import approved_reason

    campaign = Campaign.objects.get(pk=payload["campaign_id"])
    if CampaignGrant.objects.filter(campaign=campaign, account_id=payload["account_id"]).exists():
        raise ConflictError("This account already has this campaign's limit.", code="campaign_granted")
    temp = temporary_limit_grant(
        account=CreditAccount(pk=payload["account_id"]), amount=Decimal(payload["amount"]),
        starts_on=dt.date.fromisoformat(payload["starts_on"]), ends_on=dt.date.fromisoformat(payload["ends_on"]),
        actor=actor, reason=approved_reason(f"campaign {campaign.name}", approval), campaign=campaign.name,
    )
    return CampaignGrant.objects.create(campaign=campaign, account_id=payload["account_id"], temporary_limit=temp,
                                        amount=Decimal(payload["amount"]))


def _campaign_snapshot(payload: dict) -> dict:
    account = CreditAccount.objects.filter(pk=payload["account_id"]).values("fixed_limit", "status").first()
    return {"fixed_limit": str(account["fixed_limit"]), "status": account["status"]} if account else {}


def register_approval_kinds() -> None:
    """Called from ``RiskConfig.ready()``: a campaign's temporary limits share the thresholds of every
    temporary limit (the group ``temporary_limit``: per account over 30 days, per maker per day)."""
    from accounts.services import (
        LIMIT_AMOUNT_CEILING, LIMIT_MAKER_DAY_CEILING, LIMIT_SHARE_CEILING, TEMPORARY_LIMIT_GROUP,
    )

    register_kind(ApprovalKind(CAMPAIGN_GRANT_KIND, "Campaign temporary limit", "risk.grant_campaign",
                               _execute_campaign_grant, amount_above=Decimal("20000.00"), share_above=Decimal("0.50"),
                               group=TEMPORARY_LIMIT_GROUP, maker_day_above=Decimal("100000.00"),
                               amount_ceiling=LIMIT_AMOUNT_CEILING, share_ceiling=LIMIT_SHARE_CEILING,
                               maker_day_ceiling=LIMIT_MAKER_DAY_CEILING, snapshot=_campaign_snapshot))


def campaign_use_record(*, account_id: int, merchant_order_id: str, amount: Decimal, used_amount: Decimal,
                        fixed_limit: Decimal, on: dt.date) -> CampaignUse | None:
    """Called by the purchase check: a purchase that takes the used amount above the fixed limit
    while a campaign grant is active draws on the campaign's temporary limit."""
    above = used_amount + amount - max(fixed_limit, used_amount)
    if above <= 0:
        return None
    grant = (
        CampaignGrant.objects.filter(
            account_id=account_id, temporary_limit__status="active", temporary_limit__starts_on__lte=on,
            temporary_limit__ends_on__gte=on,
        )
        .order_by("-temporary_limit__ends_on", "-pk")
        .first()
    )
    if grant is None:
        return None
    use, _ = CampaignUse.objects.get_or_create(
        grant=grant, merchant_order_id=merchant_order_id[:64],
        defaults={"amount": amount, "above_fixed": min(above, amount), "used_on": on},
    )
    return use


@dataclass(frozen=True)
class CampaignReport:
    granted_accounts: int
    granted_exposure: Decimal
    uptake_accounts: int
    uptake_purchases: int
    uptake_amount: Decimal
    delinquent_accounts: int

    @property
    def uptake_rate(self) -> Decimal | None:
        return utilisation(Decimal(self.uptake_accounts), Decimal(self.granted_accounts)) if self.granted_accounts else None

    @property
    def delinquency_rate(self) -> Decimal | None:
        return utilisation(Decimal(self.delinquent_accounts), Decimal(self.granted_accounts)) if self.granted_accounts else None


def campaign_report(campaign: Campaign, *, on: dt.date | None = None) -> CampaignReport:
    """Uptake (approved purchases that drew on the temporary limit) and delinquency (granted
    accounts past due since the campaign started) of a granted campaign."""
    from installments.models import Purchase

    on = on or get_business_date()
    grants = CampaignGrant.objects.filter(campaign=campaign)
    approved = Purchase.objects.filter(
        account_id=OuterRef("grant__account_id"), merchant_order_id=OuterRef("merchant_order_id"),
        status=Purchase.Status.APPROVED,
    )
    uses = CampaignUse.objects.filter(grant__campaign=campaign).filter(Exists(approved))
    delinquent = BucketChange.objects.filter(
        account=OuterRef("account"), on_date__gte=campaign.starts_on, on_date__lte=on
    ).exclude(new_bucket=CreditAccount.Bucket.M0)
    return CampaignReport(
        granted_accounts=grants.count(),
        granted_exposure=grants.aggregate(s=Sum("amount"))["s"] or ZERO,
        uptake_accounts=uses.values("grant__account_id").distinct().count(),
        uptake_purchases=uses.count(),
        uptake_amount=uses.aggregate(s=Sum("above_fixed"))["s"] or ZERO,
        delinquent_accounts=grants.filter(Q(account__dpd__gt=0) | Q(Exists(delinquent))).count(),
    )

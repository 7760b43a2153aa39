"""How risk plugs into the apps below it (called from ``RiskConfig.ready()``):

* the credit engine's purchase risk-check registry (``installments.hooks``);
* the privacy registry (what risk holds about a customer, and how it is erased);
* the resolution of a held purchase when an officer works the queue.
"""
from __future__ import annotations

import logging

from django.apps import apps
from django.db.models import Q

from core.actors import Actor
from core.errors import NotFoundError

logger = logging.getLogger(__name__)

PURCHASE_CHECK_NAME = "risk"


def connect() -> None:
    _connect_purchase_check()
    _connect_limit_policy()
    _connect_hold_listener()
    if apps.is_installed("privacy"):
        _connect_privacy()
    if apps.is_installed("cob"):
        _connect_close_of_business()
    from risk import valuedate  # PRODUCT §13: cuts erased by back-valued money are undone

    valuedate.register_listener()


def _connect_close_of_business() -> None:
    """Limit reviews run in the close of business every Monday (PRODUCT §3: due every 180 days per
    account, and on triggers), in the pipeline's ``limit_reviews`` slot."""
    from cob.registry import register_step, weekly
    from risk.daily import limit_reviews_step

    register_step("risk.limit_reviews", limit_reviews_step, slot="limit_reviews", runs_on=weekly(0))


# --- limit policy ------------------------------------------------------------------------------


def limit_policy():
    """``accounts.limits`` provider: the risk policy's maximum limit binds every path that sets a limit."""
    from accounts.limits import LimitPolicy
    from risk.models import RiskPolicy

    policy = RiskPolicy.objects.filter(singleton=1).first() or RiskPolicy(singleton=1)
    return LimitPolicy(max_limit=policy.max_limit, max_temporary_share=policy.max_temporary_share)


def _connect_limit_policy() -> None:
    from accounts.limits import register_limit_policy

    register_limit_policy(limit_policy)


# --- purchase checks ----------------------------------------------------------------------------


def purchase_check(ctx):
    """``installments.hooks`` check: the purchase rules of ``risk.services.purchases``."""
    from installments.hooks import RiskDecision
    from risk.rules import DECLINE, REVIEW
    from risk.services.purchases import purchase_risk_check

    verdict = purchase_risk_check(
        account_id=ctx.account_id, amount=ctx.amount, category=ctx.category, device_id=ctx.device_id,
        merchant_order_id=ctx.merchant_order_id, on=ctx.on, used_amount=ctx.used_amount,
        fixed_limit=ctx.fixed_limit,
    )
    if verdict.outcome == DECLINE:
        return RiskDecision.decline(*verdict.reasons)
    if verdict.outcome == REVIEW:
        return RiskDecision.review(*verdict.reasons)
    return RiskDecision.approve()


def _connect_purchase_check() -> None:
    try:
        from installments.hooks import register_purchase_check
    except ImportError:  # the credit engine predates its hooks
        logger.warning("installments.hooks is missing: purchase risk rules are not plugged in")
        return
    register_purchase_check(PURCHASE_CHECK_NAME, purchase_check)


def _connect_hold_listener() -> None:
    try:
        from installments.hooks import register_hold_listener
    except ImportError:  # the credit engine predates its hold listeners
        logger.warning("installments.hooks has no hold listeners: review cases do not follow releases")
        return
    register_hold_listener(PURCHASE_CHECK_NAME, purchase_hold_released)


def purchase_hold_released(*, purchase, requested: str, actor: Actor, reason: str) -> None:
    """The engine released a held purchase (approved, declined or expired, from whichever screen): the
    open review case of the hold closes with the same outcome and its rule hits are marked reviewed,
    in the release's transaction. Nothing to do when no case is open (a hold without a case)."""
    from risk.models import ReviewCase, RiskEvent
    from risk.services.queue import _close, _events_reviewed

    case = ReviewCase.objects.select_for_update().filter(
        kind=ReviewCase.Kind.PURCHASE_HOLD, status=ReviewCase.Status.OPEN, account_id=purchase.account_id,
        purchase_ref=purchase.merchant_order_id[:64],
    ).first()
    if case is None:
        return
    if requested == "expire":
        status = ReviewCase.Status.EXPIRED
    elif purchase.status == "approved":
        status = ReviewCase.Status.APPROVED
    else:
        status = ReviewCase.Status.DECLINED
        if requested == "approve":  # the engine declined it on release (limit used up meanwhile)
            reason = f"{reason} — declined by the credit engine: {', '.join(purchase.reason_codes)}"
    reason = (reason or status)[:500]
    _events_reviewed(RiskEvent.objects.filter(account_id=case.account_id, subject_ref=case.purchase_ref), actor.user,
                    reason)
    _close(case, status=status, user=actor.user, reason=reason)


def resolve_purchase_hold(*, case, approve: bool, actor: Actor, reason: str):
    """Release (approve) or decline the purchase a case holds, through the credit engine. Returns
    the purchase: an approved hold may still end declined (the limit was used up meanwhile)."""
    from installments.models import Purchase
    from installments.services import purchase_review_approve, purchase_review_decline

    purchase = Purchase.objects.filter(account_id=case.account_id, merchant_order_id=case.purchase_ref).first()
    if purchase is None:
        raise NotFoundError(f"No purchase {case.purchase_ref} on this account.", code="purchase_not_found")
    if purchase.status != Purchase.Status.HELD:
        # Released before releases closed their case (issue 13): the case follows what was decided.
        purchase_hold_released(purchase=purchase, requested="sync", actor=actor,
                               reason=f"{reason} (the purchase was already {purchase.status})")
        return purchase
    if approve:
        return purchase_review_approve(purchase=purchase, actor=actor, note=reason)
    return purchase_review_decline(purchase=purchase, actor=actor, reason=reason)


# --- privacy ------------------------------------------------------------------------------------


def _applications(customer):
    Application = apps.get_model("risk", "Application")
    return Application.objects.filter(Q(customer=customer) | Q(id_number_hash=customer.id_number_hash)).order_by("pk")


def _decisions(customer):
    CreditDecision = apps.get_model("risk", "CreditDecision")
    return CreditDecision.objects.filter(application__in=_applications(customer)).order_by("pk")


def _events(customer):
    RiskEvent = apps.get_model("risk", "RiskEvent")
    return RiskEvent.objects.filter(
        Q(application__in=_applications(customer)) | Q(account__customer=customer)
    ).order_by("pk")


def _cases(customer):
    ReviewCase = apps.get_model("risk", "ReviewCase")
    return ReviewCase.objects.filter(
        Q(application__in=_applications(customer)) | Q(account__customer=customer)
    ).order_by("pk")


def risk_anonymise(customer, *, retained: bool) -> int:
    """Applications are identity records: kept under a retention duty. A full anonymisation
    erases the applicant's identity and the features scored (decisions keep score and band)."""
    if retained:
        return 0
    from django.db.models import TextField, Value

    from core.crypto import encrypt

    Application = apps.get_model("risk", "Application")
    AccountScore = apps.get_model("risk", "AccountScore")
    changed = 0
    for application in _applications(customer):
        # a queryset update: the encrypted column gets an encrypted empty string (still decryptable)
        changed += Application.objects.filter(pk=application.pk).update(
            name="Anonymised", id_number=Value(encrypt(""), output_field=TextField()),
            id_number_hash=f"anonymised:{application.reference}",
            id_number_last4="", mobile="", device_hash="", external_id="", features={},
        )
    changed += AccountScore.objects.filter(account__customer=customer).update(features={})
    return changed


def _connect_privacy() -> None:
    from privacy.registry import Provider, RecordSet, register

    register(Provider(
        key="risk",
        label="Credit decisions and risk",
        records=(
            RecordSet("credit_applications", "risk.Application", queryset=_applications,
                      exclude=("id_number", "id_number_hash", "device_hash"),
                      description="Applications for credit, with the attributes that were scored."),
            RecordSet("credit_decisions", "risk.CreditDecision", queryset=_decisions, exclude=("policy",),
                      description="Automated and officers' decisions: score, band, reason codes, model version."),
            RecordSet("risk_events", "risk.RiskEvent", queryset=_events,
                      description="Anti-fraud and early-warning rule hits about the customer."),
            RecordSet("review_cases", "risk.ReviewCase", queryset=_cases,
                      description="Reviews by a credit officer, including requests for a human review."),
            RecordSet("account_scores", "risk.AccountScore", customer_path="account__customer"),
            RecordSet("limit_reviews", "risk.LimitReview", customer_path="account__customer"),
            RecordSet("campaign_grants", "risk.CampaignGrant", customer_path="account__customer"),
            RecordSet("campaign_uses", "risk.CampaignUse", customer_path="grant__account__customer",
                      description="Purchases that drew on a campaign's temporary limit."),
        ),
        erases=tuple(f"risk.application.{f}" for f in (
            "name", "id_number", "id_number_hash", "id_number_last4", "mobile", "device_hash", "external_id",
        )),
        anonymise=risk_anonymise,
    ))

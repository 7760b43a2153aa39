"""Purchase rules during use (PRODUCT §8): velocity, amount anomaly, high-risk categories,
blacklisted device. Plugged into the credit engine's authorisation through
``installments.hooks`` (see ``risk.wiring``); runs inside the purchase's transaction after the
account row is locked, so the velocity count sees every earlier purchase of the account.

Each hit is a ``RiskEvent``; a hold opens a case in the officers' queue (the purchase waits).
"""
from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from decimal import Decimal

from django.db import transaction
from django.db.models import Count, Q, Sum
from django.utils import timezone

from accounts.models import CreditAccount
from core.money import money
from installments.models import Purchase
from risk.models import BlacklistEntry, ReviewCase, RiskEvent
from risk.rules import APPROVE, DECLINE, REVIEW, PurchaseFacts, RuleHit, purchase_rule_hits, strongest
from risk.selectors import device_hash, rule_configs
from risk.services.campaigns import campaign_use_record

#: Purchases that count for velocity and the usual amount: those that went through or wait.
COUNTED_STATUSES = (Purchase.Status.APPROVED, Purchase.Status.HELD)


@dataclass(frozen=True)
class PurchaseVerdict:
    outcome: str  # approve / review / decline
    reasons: tuple[str, ...]
    hits: tuple[RuleHit, ...]


def purchase_facts(
    *, account_id: int, amount: Decimal, category: str, device_id: str, on: dt.date, now: dt.datetime, configs
) -> PurchaseFacts:
    velocity, anomaly = configs["purchase_velocity"], configs["amount_anomaly"]
    counted = Purchase.objects.filter(account_id=account_id, status__in=COUNTED_STATUSES)
    # Both counts in one query: the velocity window and the usual amount's lookback, each a filtered
    # aggregate over the account's counted purchases up to the business date.
    aggregates = {}
    first_day = on
    if velocity.enabled:
        since = now - dt.timedelta(minutes=int(velocity.params["window_minutes"]))
        # Real time, within the business day: purchases of other business dates (a demo or a test
        # moving through time) are never "within 10 minutes" of this one.
        aggregates["recent"] = Count("id", filter=Q(created_at__gte=since, requested_on=on))
    if anomaly.enabled:
        start = on - dt.timedelta(days=int(anomaly.params["lookback_days"]))
        first_day = min(first_day, start)
        aggregates["s"] = Sum("amount", filter=Q(requested_on__gte=start))
        aggregates["n"] = Count("id", filter=Q(requested_on__gte=start))
    totals = (counted.filter(requested_on__gte=first_day, requested_on__lte=on).aggregate(**aggregates)
              if aggregates else {})
    recent = totals.get("recent") or 0
    average = None
    if totals.get("n"):  # exact: a Decimal sum divided by the count (no float average)
        average = Decimal(totals["s"]) / totals["n"]
    dev_hash = device_hash(device_id)
    blacklisted = bool(dev_hash) and BlacklistEntry.objects.filter(
        kind=BlacklistEntry.Kind.DEVICE, value_hash=dev_hash, is_active=True
    ).exists()
    return PurchaseFacts(amount=money(amount), category=(category or "").strip(), device_blacklisted=blacklisted,
                         recent_count=recent, average_amount=average)


@transaction.atomic(savepoint=False)
def purchase_risk_check(
    *, account_id: int, amount: Decimal, category: str = "", device_id: str = "", merchant_order_id: str, on: dt.date,
    now: dt.datetime | None = None, used_amount: Decimal | None = None, fixed_limit: Decimal | None = None,
) -> PurchaseVerdict:
    """Evaluate the purchase rules, record every hit, open a hold case when the purchase waits.
    With ``used_amount`` (the account's used amount before this purchase), a purchase that draws
    on a campaign's temporary limit is recorded for the campaign's uptake (``fixed_limit``: the
    account's, when the caller has it; read otherwise).

    No savepoint of its own: it raises nothing but database errors, which fail the purchase's
    transaction anyway (the authorisation holds the savepoint)."""
    now = now or timezone.now()
    configs = rule_configs("purchase")
    facts = purchase_facts(account_id=account_id, amount=amount, category=category, device_id=device_id, on=on,
                           now=now, configs=configs)
    hits = purchase_rule_hits(facts, configs)
    outcome = strongest(hits)
    RiskEvent.objects.bulk_create([
        RiskEvent(rule=h.rule, stage=RiskEvent.Stage.PURCHASE, severity=h.severity, outcome=h.outcome,
                  account_id=account_id, subject_ref=merchant_order_id[:64],
                  details={**dict(h.details), "amount": str(facts.amount), "merchant_order_id": merchant_order_id},
                  business_date=on)
        for h in hits
    ])
    if outcome == REVIEW:
        ReviewCase.objects.get_or_create(
            kind=ReviewCase.Kind.PURCHASE_HOLD, account_id=account_id, purchase_ref=merchant_order_id[:64],
            status=ReviewCase.Status.OPEN,
            defaults={"summary": f"Purchase {merchant_order_id} of {facts.amount} held: "
                                 + ", ".join(h.rule for h in hits if h.outcome == REVIEW)},
        )
    if used_amount is not None and outcome != DECLINE:
        fixed = fixed_limit
        if fixed is None:
            fixed = CreditAccount.objects.filter(pk=account_id).values_list("fixed_limit", flat=True).first()
        if fixed is not None:
            campaign_use_record(account_id=account_id, merchant_order_id=merchant_order_id, amount=facts.amount,
                                used_amount=money(used_amount), fixed_limit=fixed, on=on)
    reasons = tuple(h.rule for h in hits if h.outcome == outcome) if outcome != APPROVE else ()
    return PurchaseVerdict(outcome=outcome, reasons=reasons, hits=tuple(hits))

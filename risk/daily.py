"""Limit reviews (PRODUCT §3 dynamic adjustment, §8 early warnings): a close-of-business step.

``limit_reviews_run(on=…)`` reviews the accounts that are due (every ``review_every_days`` since
``last_reviewed_on``, or since opening) and those with an early-warning trigger (overdue,
utilisation above the trigger, behaviour score fallen a band), scores them with the active
behaviour scorecard, and raises or cuts the fixed limit through
``accounts.services.account_change_fixed_limit`` with ``Actor.system("limit_review:<rule>@<model>")``.
Every review is a ``LimitReview`` row (one per account and date: running a date twice changes
nothing), every trigger a ``RiskEvent``; customers are notified through ``risk.hooks``.
An account frozen by staff is left alone. ``dry_run=True`` computes the same results and writes
nothing (``manage.py limit_review --dry-run``).
"""
from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from decimal import Decimal
from collections.abc import Iterable, Sequence

from django.db import transaction
from django.db.models import Exists, F, OuterRef, Q
from django.db.models import DateField, Value
from django.db.models.functions import Coalesce, Greatest

from accounts.models import BucketChange, CreditAccount
from accounts.services import account_change_fixed_limit, lock_account
from core.actors import Actor
from risk.hooks import LimitChangeNotice, notify_limit_change_on_commit
from risk.models import AccountScore, LimitReview, RiskEvent, RiskPolicy, ScorecardVersion
from risk.rules import (
    ReviewFacts,
    ReviewPolicy,
    band_for,
    band_rank,
    decide_limit_review,
    months_before,
    utilisation,
)
from risk.scoring import score as score_table
from risk.selectors import active_scorecard, risk_policy, rule_configs, score_bands

TRIGGER_RULES = {"overdue": "early_overdue", "utilisation": "early_utilisation", "score_drop": "early_score_drop"}


@dataclass(frozen=True)
class ReviewResult:
    account_id: int
    account_reference: str
    triggers: tuple[str, ...]
    action: str
    rule: str
    old_limit: Decimal
    new_limit: Decimal
    score_before: int | None
    score_after: int | None
    band_before: str
    band_after: str
    utilisation: Decimal | None
    model_label: str
    explanation: str
    skipped: bool = False


@dataclass
class ReviewSummary:
    on: dt.date
    dry_run: bool
    results: list[ReviewResult] = field(default_factory=list)

    def count(self, action: str) -> int:
        return sum(1 for r in self.results if r.action == action and not r.skipped)

    @property
    def reviewed(self) -> int:
        return sum(1 for r in self.results if not r.skipped)

    def as_dict(self) -> dict:
        return {
            "on": self.on.isoformat(), "dry_run": self.dry_run, "reviewed": self.reviewed,
            "raised": self.count("raise"), "cut": self.count("cut"), "unchanged": self.count("none"),
            "skipped": sum(1 for r in self.results if r.skipped),
        }


def review_policy(policy: RiskPolicy) -> ReviewPolicy:
    return ReviewPolicy(
        raise_utilisation_above=policy.raise_utilisation_above, raise_min_score_gain=policy.raise_min_score_gain,
        raise_step=policy.raise_step, cut_step=policy.cut_step, max_limit=policy.max_limit,
        limit_unit=policy.limit_unit,
    )


def _reviewable() -> QuerySet[CreditAccount]:  # noqa: F821
    # Staff's manual freezes are left alone; a customer whose processing is restricted (PIPL: storage
    # only) or who was anonymised is not profiled.
    return CreditAccount.objects.filter(
        status__in=[CreditAccount.Status.ACTIVE, CreditAccount.Status.FROZEN], written_off_on__isnull=True,
        customer__processing_restricted=False, customer__anonymised_at__isnull=True,
    ).exclude(freeze_reason=CreditAccount.FreezeReason.MANUAL)


def limit_review_candidates(
    *, on: dt.date, policy: RiskPolicy | None = None, within: Sequence[int] | None = None
) -> dict[int, list[str]]:
    """Account id → triggers ("due", "overdue", "utilisation", "score_drop"), set-based; ``within``
    limits the search to some accounts (a close-of-business chunk)."""
    policy = policy or risk_policy()
    # "since the last review", never further back than one review period
    since_review = Greatest(Coalesce("last_reviewed_on", "opened_on"),
                            Value(on - dt.timedelta(days=policy.review_every_days), output_field=DateField()))
    qs = _reviewable().exclude(limit_reviews__reviewed_on=on).annotate(since=since_review)
    if within is not None:
        qs = qs.filter(pk__in=list(within))
    went_overdue = BucketChange.objects.filter(account=OuterRef("pk"), on_date__gt=OuterRef("since"), on_date__lte=on).filter(
        ~Q(new_bucket=CreditAccount.Bucket.M0) | ~Q(old_bucket=CreditAccount.Bucket.M0)
    )  # the same test as the review's: past due at some point in the window
    due = Q(last_reviewed_on__lte=on - dt.timedelta(days=policy.review_every_days)) | Q(
        last_reviewed_on__isnull=True, opened_on__lte=on - dt.timedelta(days=policy.review_every_days)
    )
    overdue = Q(dpd__gt=0) | Q(went_overdue=True)
    high_use = Q(fixed_limit__gt=0, used_amount__gt=F("fixed_limit") * policy.trigger_utilisation_above)
    rows = (
        qs.annotate(went_overdue=Exists(went_overdue))
        .filter(due | overdue | high_use)
        .annotate(
            is_due=_flag(due), is_overdue=_flag(overdue), is_high=_flag(high_use),
        )
        .values_list("pk", "is_due", "is_overdue", "is_high")
    )
    triggers: dict[int, list[str]] = {}
    for pk, is_due, is_overdue, is_high in rows:
        triggers[pk] = [name for name, on_ in (("due", is_due), ("overdue", is_overdue), ("utilisation", is_high)) if on_]
    for pk in _score_drops(on=on, exclude=triggers.keys(), within=within):
        triggers.setdefault(pk, []).append("score_drop")
    return dict(sorted(triggers.items()))


def _flag(condition: Q):
    from django.db.models import BooleanField, Case, Value, When

    return Case(When(condition, then=Value(True)), default=Value(False), output_field=BooleanField())


def _score_drops(*, on: dt.date, exclude: Iterable[int], within: Sequence[int] | None = None) -> list[int]:
    """Accounts whose latest behaviour score (``account_scores_refresh``) is a band below the
    score of their last review (or opening)."""
    bands = score_bands()
    out = []
    refreshed = (
        AccountScore.objects.filter(source=AccountScore.Source.BEHAVIOUR, scored_on__lte=on)
        .exclude(account_id__in=list(exclude))
        .filter(account__in=_reviewable().exclude(limit_reviews__reviewed_on=on))
        .order_by("account_id", "-scored_on", "-id")
    )
    if within is not None:
        refreshed = refreshed.filter(account_id__in=list(within))
    seen: set[int] = set()
    for row in refreshed:
        if row.account_id in seen:
            continue
        seen.add(row.account_id)
        before = _reference_score(row.account_id, on=on)
        if before is not None and band_rank(band_for(row.score, bands).name, bands) > band_rank(
            band_for(before.score, bands).name, bands
        ):
            out.append(row.account_id)
    return out


def _reference_score(account_id: int, *, on: dt.date) -> AccountScore | None:
    """The score the account was last decided on: its last review's, else its application's."""
    return (
        AccountScore.objects.filter(
            account_id=account_id, scored_on__lte=on,
            source__in=[AccountScore.Source.REVIEW, AccountScore.Source.APPLICATION],
        )
        .order_by("-scored_on", "-id")
        .first()
    )


def _overdue_between(account_id: int, start: dt.date, end: dt.date) -> bool:
    """Was the account past due at any point after ``start`` up to ``end``? A bucket change in the
    window, to or from a delinquent bucket, means it was."""
    return (
        BucketChange.objects.filter(account_id=account_id, on_date__gt=start, on_date__lte=end)
        .filter(~Q(new_bucket=CreditAccount.Bucket.M0) | ~Q(old_bucket=CreditAccount.Bucket.M0))
        .exists()
    )


def _episode_start(account_id: int, *, on: dt.date) -> dt.date | None:
    """The first day of the account's latest delinquency episode up to ``on``: the latest change from
    current (M0) into a delinquent bucket."""
    return (BucketChange.objects.filter(account_id=account_id, on_date__lte=on, old_bucket=CreditAccount.Bucket.M0)
            .exclude(new_bucket=CreditAccount.Bucket.M0).order_by("-on_date").values_list("on_date", flat=True).first())


def _cut_this_episode(account_id: int, *, on: dt.date) -> bool:
    """PRODUCT §13: one limit cut per delinquency episode — was the latest episode cut already (a cut
    that was undone does not count)?"""
    start = _episode_start(account_id, on=on)
    return start is not None and LimitReview.objects.filter(
        account_id=account_id, action=LimitReview.Action.CUT, rule="overdue", reviewed_on__gte=start,
        reviewed_on__lte=on, undone_on__isnull=True).exists()


def _behaviour_score(account: CreditAccount, *, on: dt.date, version: ScorecardVersion | None):
    if version is None:
        return None, {}
    from risk.features import account_behaviour_features

    features = account_behaviour_features(account, on=on)
    return score_table(version.table, features), features


def review_account(
    account: CreditAccount, *, on: dt.date, triggers: Iterable[str], policy: RiskPolicy, dry_run: bool,
    version: ScorecardVersion | None = None, bands=None, configs=None,
) -> ReviewResult:
    """Review one (locked, unless dry run) account; write the outcome unless ``dry_run``."""
    bands = bands if bands is not None else score_bands()
    configs = configs or rule_configs("account")
    triggers = tuple(triggers)
    model_label = version.label if version else ""
    if account.freeze_reason == CreditAccount.FreezeReason.MANUAL:
        return ReviewResult(account.pk, account.reference, triggers, "none", "manual_freeze", account.fixed_limit,
                            account.fixed_limit, None, None, "", "", None, model_label,
                            "frozen by staff: left alone", skipped=True)
    since = max(account.last_reviewed_on or account.opened_on, on - dt.timedelta(days=policy.review_every_days))
    reference = _reference_score(account.pk, on=on)
    scored, features = _behaviour_score(account, on=on, version=version)
    score_before = reference.score if reference else None
    score_after = scored.score if scored is not None else None
    facts = ReviewFacts(
        fixed_limit=account.fixed_limit,
        used_amount=account.used_amount,
        manual_freeze=False,
        overdue_now=account.dpd > 0,
        overdue_since_last_review=_overdue_between(account.pk, since, on),
        overdue_within_raise_window=account.dpd > 0
        or _overdue_between(account.pk, months_before(on, policy.raise_no_overdue_months), on),
        score_before=score_before,
        score_after=score_after,
        cut_this_episode=_cut_this_episode(account.pk, on=on),
    )
    decision = decide_limit_review(facts, review_policy(policy), bands)
    result = ReviewResult(
        account_id=account.pk, account_reference=account.reference, triggers=triggers, action=decision.action,
        rule=decision.rule, old_limit=account.fixed_limit, new_limit=decision.new_limit,
        score_before=score_before, score_after=score_after,
        band_before=band_for(score_before, bands).name if score_before is not None else "",
        band_after=band_for(score_after, bands).name if score_after is not None else "",
        utilisation=utilisation(account.used_amount, account.fixed_limit), model_label=model_label,
        explanation=decision.explanation,
    )
    if dry_run:
        return result
    rule_label = f"limit_review:{decision.rule}@{model_label or 'rules'}"
    if decision.action != "none":
        account_change_fixed_limit(
            account=account, new_limit=decision.new_limit, actor=Actor.system(rule_label[:100]),
            reason=f"limit review {on.isoformat()}: {decision.explanation}"[:500],
        )
        notify_limit_change_on_commit(LimitChangeNotice(
            account_id=account.pk, account_reference=account.reference, old_limit=result.old_limit,
            new_limit=result.new_limit, rule=decision.rule, reason=decision.explanation, effective_on=on.isoformat(),
        ))
    LimitReview.objects.create(
        account=account, reviewed_on=on, triggers=list(triggers), action=decision.action, rule=decision.rule,
        old_limit=result.old_limit, new_limit=result.new_limit, score_before=score_before, score_after=score_after,
        band_before=result.band_before, band_after=result.band_after, utilisation=result.utilisation,
        model_label=model_label, explanation=decision.explanation[:500],
    )
    if scored is not None:
        AccountScore.objects.create(
            account=account, scored_on=on, source=AccountScore.Source.REVIEW, score=scored.score,
            band=result.band_after, scorecard_version=version,
            reason_codes=scored.reason_codes(policy.reason_code_count), features=features,
        )
    events = []
    for trigger in triggers:
        cfg = configs.get(TRIGGER_RULES.get(trigger, ""))
        if cfg is not None and cfg.enabled:
            events.append(RiskEvent(
                rule=cfg.code, stage=RiskEvent.Stage.ACCOUNT, severity=cfg.severity, outcome=cfg.outcome,
                account=account, business_date=on,
                details={"dpd": account.dpd, "utilisation": str(result.utilisation) if result.utilisation is not None else None,
                         "score_before": score_before, "score_after": score_after, "review": decision.action},
            ))
    RiskEvent.objects.bulk_create(events)
    CreditAccount.objects.filter(pk=account.pk).update(last_reviewed_on=on)
    return result


def limit_reviews_run(
    *, on: dt.date, account_ids: Iterable[int] | None = None, dry_run: bool = False,
    within: Sequence[int] | None = None,
) -> ReviewSummary:
    """Review the due and triggered accounts (or exactly ``account_ids``) on ``on``; ``within``
    limits the due/triggered search to some accounts. Each account is reviewed in its own short
    transaction, under its row lock; safe to run twice for a date."""
    policy = risk_policy()
    version = active_scorecard(ScorecardVersion.Purpose.BEHAVIOUR)
    bands, configs = score_bands(), rule_configs("account")
    candidates = limit_review_candidates(on=on, policy=policy, within=within)
    if account_ids is not None:
        wanted = sorted(set(account_ids))
        targets = {pk: candidates.get(pk, ["requested"]) for pk in wanted}
    else:
        targets = candidates
    summary = ReviewSummary(on=on, dry_run=dry_run)
    for pk in sorted(targets):
        if dry_run:
            account = CreditAccount.objects.filter(pk=pk).first()
            if account is None:
                continue
            summary.results.append(review_account(account, on=on, triggers=targets[pk], policy=policy, dry_run=True,
                                                  version=version, bands=bands, configs=configs))
            continue
        with transaction.atomic():
            try:
                account = lock_account(pk)
            except CreditAccount.DoesNotExist:
                continue
            if LimitReview.objects.filter(account=account, reviewed_on=on).exists():
                continue  # already reviewed for this date (a re-run)
            if account.status == CreditAccount.Status.CLOSED or account.written_off_on is not None:
                continue
            summary.results.append(review_account(account, on=on, triggers=targets[pk], policy=policy, dry_run=False,
                                                  version=version, bands=bands, configs=configs))
    return summary


def limit_reviews_step(*, on: dt.date, account_ids: Sequence[int] | None = None) -> int:
    """Close-of-business step (``cob.registry`` slot ``limit_reviews``): review the due and
    triggered accounts of one chunk; returns the number of limits changed. To plug it in::

        register_step("risk.limit_reviews", limit_reviews_step, slot="limit_reviews", runs_on=weekly(0))
    """
    summary = limit_reviews_run(on=on, within=account_ids)
    return summary.count("raise") + summary.count("cut")


@transaction.atomic
def account_scores_refresh(*, on: dt.date, account_ids: Iterable[int] | None = None) -> int:
    """Score accounts with the active behaviour scorecard (a periodic job): the scores feed the
    score-drop trigger. Returns how many were scored (0 without an active behaviour version)."""
    version = active_scorecard(ScorecardVersion.Purpose.BEHAVIOUR)
    if version is None:
        return 0
    policy, bands = risk_policy(), score_bands()
    qs = _reviewable().order_by("pk")
    if account_ids is not None:
        qs = qs.filter(pk__in=list(account_ids))
    rows = []
    for account in qs.iterator(chunk_size=500):
        result, features = _behaviour_score(account, on=on, version=version)
        rows.append(AccountScore(
            account=account, scored_on=on, source=AccountScore.Source.BEHAVIOUR, score=result.score,
            band=band_for(result.score, bands).name, scorecard_version=version,
            reason_codes=result.reason_codes(policy.reason_code_count), features=features,
        ))
    AccountScore.objects.bulk_create(rows, batch_size=500)
    return len(rows)


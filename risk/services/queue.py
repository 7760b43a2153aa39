"""The credit officers' queue: approve or decline a case, always with a reason."""
from __future__ import annotations

from decimal import Decimal

from django.db import transaction
from django.utils import timezone

from accounts.models import CreditAccount
from accounts.services import account_change_fixed_limit
from approvals.registry import ApprovalKind, register_kind
from approvals.selectors import approval_pending_for
from approvals.services import approval_submit, approved_reason
from core.actors import Actor
from core.audit import audit_record
from core.business_date import get_business_date
from core.errors import BusinessRuleError, ValidationError
from core.identity import id_age_on
from core.money import ZERO, money
from risk.models import Application, CreditDecision, ReviewCase, RiskEvent
from risk.rules import age_eligibility_hit
from risk.selectors import risk_policy


def _reason(reason: str) -> str:
    reason = (reason or "").strip()
    if not reason:
        raise ValidationError("A reason is required.", code="reason_required")
    return reason[:500]


def _lock_open_case(case: ReviewCase) -> ReviewCase:
    case = ReviewCase.objects.select_for_update().get(pk=case.pk)
    if case.status != ReviewCase.Status.OPEN:
        raise BusinessRuleError(f"Case {case.reference} is already {case.get_status_display().lower()}.", code="case_closed")
    return case


def _close(case: ReviewCase, *, status: str, user, reason: str, limit: Decimal | None = None) -> ReviewCase:
    case.status = status
    case.resolved_by = user
    case.resolved_at = timezone.now()
    case.resolution_reason = reason
    case.resolved_limit = limit
    case.save(update_fields=["status", "resolved_by", "resolved_at", "resolution_reason", "resolved_limit", "updated_at"])
    return case


def _events_reviewed(events, user, note: str) -> None:
    events.filter(status=RiskEvent.Status.OPEN).update(
        status=RiskEvent.Status.REVIEWED, reviewed_by=user, reviewed_at=timezone.now(), review_note=note[:500]
    )


def _manual_decision(application: Application, *, outcome: str, user, reason: str, limit: Decimal) -> CreditDecision:
    auto = application.decisions.filter(automated=True).order_by("created_at", "id").first()
    return CreditDecision.objects.create(
        application=application, outcome=outcome, automated=False, decided_by=user, reason=reason, limit=limit,
        score=auto.score if auto else None, band=auto.band if auto else "",
        scorecard_version=auto.scorecard_version if auto else None, model_label=auto.model_label if auto else "",
        reason_codes=auto.reason_codes if auto else [],
    )


REVIEW_OPEN_KIND = "risk.review_open"
REVIEW_LIMIT_KIND = "risk.review_limit"


@transaction.atomic
def review_case_approve(*, case: ReviewCase, user, reason: str, limit: Decimal | None = None) -> ReviewCase:
    """Approve a case. A held purchase: release it. An application: open the account with ``limit``
    (or set the limit of the account the automated decision opened) — through the approvals gate
    (issue 23, PRODUCT §12): the officer is the maker; a new line above the threshold, or a raise that
    adds up above it, waits for a second officer and the case stays open until then (``case.pending``
    is the waiting request)."""
    actor = Actor.staff(user)
    reason = _reason(reason)
    case = _lock_open_case(case)
    if case.kind == ReviewCase.Kind.PURCHASE_HOLD:
        from risk.wiring import resolve_purchase_hold

        # The one release path: the engine releases the purchase and closes this case with it
        # (``risk.wiring.purchase_hold_released``), declined if the limit was used up meanwhile.
        resolve_purchase_hold(case=case, approve=True, actor=actor, reason=reason)
        case.refresh_from_db()
        return case

    if limit is None:
        raise ValidationError("An approval needs a limit.", code="limit_required")
    try:
        limit = money(limit)
    except (ArithmeticError, TypeError, ValueError):
        raise ValidationError("The limit must be an amount.", code="invalid_amount") from None
    if limit <= 0:
        raise ValidationError("An approval needs a limit above zero.", code="invalid_amount")
    for kind in (REVIEW_OPEN_KIND, REVIEW_LIMIT_KIND):
        waiting = approval_pending_for(kind=kind, target=case)
        if waiting is not None:
            raise BusinessRuleError(f"This case's approval already waits for a second officer (request "
                                    f"{waiting.reference}).", code="case_approval_pending",
                                    details={"request": waiting.reference})
    application = Application.objects.get(pk=case.application_id)
    payload = {"case_id": case.pk, "limit": str(limit), "reason": reason}
    if application.account_id is None:
        submitted = approval_submit(
            kind=REVIEW_OPEN_KIND, payload=payload, amount=limit, base=None, target=case, actor=actor, reason=reason,
            summary=f"Open a line of {limit} for application {application.reference} (case {case.reference})",
            before=ZERO, after=limit,
        )
    else:
        account = CreditAccount.objects.get(pk=application.account_id)
        submitted = approval_submit(
            kind=REVIEW_LIMIT_KIND, payload={**payload, "account_id": account.pk}, amount=limit - account.fixed_limit,
            base=account.fixed_limit, target=case, account=account.pk, actor=actor, reason=reason,
            summary=f"Human review of application {application.reference}: limit of {account.reference} "
                    f"{account.fixed_limit} → {limit}", before=account.fixed_limit, after=limit,
        )
    case = ReviewCase.objects.get(pk=case.pk)
    case.pending = submitted.request
    return case


def _execute_review_approve(payload: dict, *, actor: Actor, approval=None) -> ReviewCase:
    """The approved review (at once within the thresholds, or by a second officer): every rule checked
    again now; the maker is the officer who approved the case."""
    from risk.services.applications import _open_account

    user, reason = actor.user, payload["reason"]
    limit = Decimal(payload["limit"])
    case = _lock_open_case(ReviewCase(pk=payload["case_id"]))
    application = Application.objects.select_for_update().get(pk=case.application_id)
    _refuse_ineligible_age(application)
    if application.account_id is None:
        from accounts.models import Customer

        customer = Customer.objects.filter(id_number_hash=application.id_number_hash).first()
        if customer and CreditAccount.objects.filter(customer=customer, product=application.product).exists():
            raise BusinessRuleError("The applicant already holds an account for this product.", code="account_exists")
        consents = [(c["kind"], c["version"], c["granted"]) for c in application.consents]
        _open_account(application=application, customer=customer, consents=consents, limit=limit, actor=actor,
                      reason=approved_reason(f"application {application.reference} approved by an officer: {reason}",
                                             approval))
    else:
        account = CreditAccount.objects.get(pk=application.account_id)
        if account.fixed_limit != limit:
            account_change_fixed_limit(account=account, new_limit=limit, actor=actor,
                                       reason=approved_reason(f"human review of application {application.reference}: "
                                                              f"{reason}", approval))
    application.status = Application.Status.APPROVED
    application.save(update_fields=["status", "updated_at"])
    _manual_decision(application, outcome=CreditDecision.Outcome.APPROVE, user=user, reason=reason, limit=limit)
    _events_reviewed(application.risk_events.all(), user, reason)
    audit_record(actor=actor, action="application_approve", obj=application, reason=reason, new={"limit": str(limit)})
    return _close(case, status=ReviewCase.Status.APPROVED, user=user, reason=reason, limit=limit)


def _review_limit_snapshot(payload: dict) -> dict:
    account = CreditAccount.objects.filter(pk=payload.get("account_id")).values("fixed_limit").first()
    return {"fixed_limit": str(account["fixed_limit"]) if account else None}


def register_approval_kinds() -> None:
    """Called from ``RiskConfig.ready()``. The officers' queue goes through the same gate and the same
    thresholds as a limit set by hand: a new line above ¥20,000; a raise of the account the automated
    decision opened that adds up (with the account's other raises in 30 days) to more than ¥20,000 or
    50 % (issue 23: a ¥2,000 line raised to ¥50,000 by one officer now waits)."""
    from accounts.services import LIMIT_AMOUNT_CEILING, LIMIT_MAKER_DAY_CEILING, LIMIT_SHARE_CEILING

    register_kind(ApprovalKind(REVIEW_OPEN_KIND, "Application approved by an officer", "risk.work_reviewcase",
                               _execute_review_approve, amount_above=Decimal("20000.00"),
                               amount_ceiling=LIMIT_AMOUNT_CEILING))
    register_kind(ApprovalKind(REVIEW_LIMIT_KIND, "Limit set in a human review", "risk.work_reviewcase",
                               _execute_review_approve, amount_above=Decimal("20000.00"), share_above=Decimal("0.50"),
                               group="limit_raise", maker_day_above=Decimal("100000.00"),
                               amount_ceiling=LIMIT_AMOUNT_CEILING, share_ceiling=LIMIT_SHARE_CEILING,
                               maker_day_ceiling=LIMIT_MAKER_DAY_CEILING, base_moves=True,
                               snapshot=_review_limit_snapshot))


def _refuse_ineligible_age(application: Application) -> None:
    """An officer cannot approve an applicant outside the policy's ages either (issue 12)."""
    policy = risk_policy()
    hit = age_eligibility_hit(age=id_age_on(application.id_number, get_business_date()), min_age=policy.min_age,
                              max_age=policy.max_age)
    if hit:
        raise BusinessRuleError(
            f"The applicant is {hit.details['age']}: the policy lends from {policy.min_age} to {policy.max_age}.",
            code=hit.rule, details=dict(hit.details),
        )


@transaction.atomic
def review_case_decline(*, case: ReviewCase, user, reason: str) -> ReviewCase:
    """Decline a case: the application stays declined, the held purchase is declined. An
    application whose automated approval already opened an account cannot be declined here
    (change or close the account instead)."""
    actor = Actor.staff(user)
    reason = _reason(reason)
    case = _lock_open_case(case)
    if case.kind == ReviewCase.Kind.PURCHASE_HOLD:
        from risk.wiring import resolve_purchase_hold

        resolve_purchase_hold(case=case, approve=False, actor=actor, reason=reason)
        case.refresh_from_db()
        return case

    application = Application.objects.select_for_update().get(pk=case.application_id)
    if application.account_id is not None:
        raise BusinessRuleError(
            "This application's account is open: confirm it (approve with its limit), or change the account.",
            code="account_open",
        )
    application.status = Application.Status.DECLINED
    application.save(update_fields=["status", "updated_at"])
    _manual_decision(application, outcome=CreditDecision.Outcome.DECLINE, user=user, reason=reason, limit=Decimal("0"))
    _events_reviewed(application.risk_events.all(), user, reason)
    audit_record(actor=actor, action="application_decline", obj=application, reason=reason)
    return _close(case, status=ReviewCase.Status.DECLINED, user=user, reason=reason)


@transaction.atomic
def risk_event_mark_reviewed(*, event: RiskEvent, user, note: str) -> RiskEvent:
    Actor.staff(user)
    note = _reason(note)
    event = RiskEvent.objects.select_for_update().get(pk=event.pk)
    if event.status == RiskEvent.Status.REVIEWED:
        raise BusinessRuleError("The event is already reviewed.", code="already_reviewed")
    event.status = RiskEvent.Status.REVIEWED
    event.reviewed_by, event.reviewed_at, event.review_note = user, timezone.now(), note
    event.save(update_fields=["status", "reviewed_by", "reviewed_at", "review_note"])
    return event

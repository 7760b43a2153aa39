"""Extension points of the credit engine that higher apps fill in their ``AppConfig.ready()``.

**Purchase risk checks** (PRODUCT §8 "during use"): the risk app registers callables that receive a
:class:`PurchaseContext` of plain values and return a :class:`RiskDecision`. They run inside the
purchase's transaction, after the account row is locked (so a velocity count sees every earlier
purchase of the account). With no check registered every purchase is approved.

    from installments.hooks import RiskDecision, register_purchase_check

    def velocity(ctx):
        if recent_purchases(ctx.account_id, minutes=10) > 5:
            return RiskDecision.decline("velocity")
        return RiskDecision.approve()

    register_purchase_check("velocity", velocity)
"""
from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from decimal import Decimal
from enum import StrEnum
from collections.abc import Callable


class RiskOutcome(StrEnum):
    APPROVE = "approve"
    DECLINE = "decline"
    REVIEW = "review"


@dataclass(frozen=True)
class RiskDecision:
    outcome: RiskOutcome
    reasons: tuple[str, ...] = ()

    @classmethod
    def approve(cls) -> RiskDecision:
        return cls(RiskOutcome.APPROVE)

    @classmethod
    def decline(cls, *reasons: str) -> RiskDecision:
        return cls(RiskOutcome.DECLINE, tuple(reasons) or ("risk_declined",))

    @classmethod
    def review(cls, *reasons: str) -> RiskDecision:
        return cls(RiskOutcome.REVIEW, tuple(reasons) or ("risk_review",))


@dataclass(frozen=True)
class PurchaseContext:
    """Plain inputs of a purchase risk check."""

    account_id: int
    customer_id: int
    product_code: str
    amount: Decimal
    tenor: int | None
    category: str
    device_id: str
    merchant_order_id: str
    on: dt.date
    available: Decimal
    total_limit: Decimal
    used_amount: Decimal
    extra: dict = field(default_factory=dict)
    fixed_limit: Decimal | None = None  # the account's fixed limit (None: a check reads it if it needs it)


PurchaseCheck = Callable[[PurchaseContext], RiskDecision]
_purchase_checks: dict[str, PurchaseCheck] = {}


def register_purchase_check(name: str, check: PurchaseCheck) -> None:
    """Register (or replace) a named check. Names keep registration idempotent across reloads."""
    _purchase_checks[name] = check


def unregister_purchase_check(name: str) -> None:
    _purchase_checks.pop(name, None)


def registered_purchase_checks() -> dict[str, PurchaseCheck]:
    return dict(_purchase_checks)


def run_purchase_checks(ctx: PurchaseContext) -> RiskDecision:
    """Every check runs; any decline declines (with all decline reasons), else any review holds, else approve."""
    declines: list[str] = []
    reviews: list[str] = []
    for check in list(_purchase_checks.values()):
        decision = check(ctx)
        if decision.outcome == RiskOutcome.DECLINE:
            declines.extend(decision.reasons)
        elif decision.outcome == RiskOutcome.REVIEW:
            reviews.extend(decision.reasons)
    if declines:
        return RiskDecision(RiskOutcome.DECLINE, tuple(dict.fromkeys(declines)))
    if reviews:
        return RiskDecision(RiskOutcome.REVIEW, tuple(dict.fromkeys(reviews)))
    return RiskDecision.approve()


# --- Delinquency re-judged (issue 13) -----------------------------------------------------------------
#
# When money follows its value date (a back-valued repayment, a reversal), the engine re-judges the days
# already closed (``installments.services.rejudge``). Apps above the engine (collections) register a
# listener to follow — close a cured case, re-decide promises, cancel reminders no longer true. Listeners
# run inside the engine's transaction, after the account's delinquency is corrected.


@dataclass(frozen=True)
class RejudgedAccount:
    account_id: int
    since: dt.date  # the first business date re-judged (a value date, or a reopened statement's due date)
    on: dt.date  # the business date of the correction
    actor: object = None


RejudgeListener = Callable[[RejudgedAccount], None]
_rejudge_listeners: dict[str, RejudgeListener] = {}


def register_rejudge_listener(name: str, listener: RejudgeListener) -> None:
    _rejudge_listeners[name] = listener


def unregister_rejudge_listener(name: str) -> None:
    _rejudge_listeners.pop(name, None)


def notify_delinquency_rejudged(*, account_id: int, since: dt.date, on: dt.date, actor=None) -> None:
    event = RejudgedAccount(account_id=account_id, since=since, on=on, actor=actor)
    for listener in list(_rejudge_listeners.values()):
        listener(event)
# --- Held purchases ------------------------------------------------------------------------------------
#
# A held purchase is released in one place, the engine (``purchase_review_approve`` /
# ``purchase_review_decline`` / ``purchase_hold_expire``), whichever screen asked. Apps that keep their
# own record of the hold (the risk app's review case) register a listener, called inside the release's
# transaction after the purchase changed: ``fn(*, purchase, requested, actor, reason)`` where
# ``requested`` is "approve", "decline" or "expire" and ``purchase.status`` the outcome (an approval
# may still end declined when the limit was used up meanwhile).

HoldListener = Callable[..., None]
_hold_listeners: dict[str, HoldListener] = {}


def register_hold_listener(name: str, listener: HoldListener) -> None:
    """Register (or replace) a named listener of held purchases' releases."""
    _hold_listeners[name] = listener


def unregister_hold_listener(name: str) -> None:
    _hold_listeners.pop(name, None)


def hold_released(*, purchase, requested: str, actor, reason: str) -> None:
    for listener in list(_hold_listeners.values()):
        listener(purchase=purchase, requested=requested, actor=actor, reason=reason)


# --- Plan add-ons (issue 16: consumer-credit insurance) --------------------------------------------------
#
# An add-on sold with an installment plan lives in an app above the engine. It registers two things:
#
# * a **statement biller**, called by close of business inside statement generation, after the cycle's
#   installments are billed and before the cycle's charges are gathered:
#   ``fn(*, on, drafts, params)`` where ``drafts`` is an SQL subquery (with ``params``) selecting the ids
#   of the statements being generated. It bills its per-period amounts set-based, as charges.
# * a **plan add-on**: ``attach(*, plan, actor)`` is called inside the transaction that created an
#   installment plan whose request asked for the add-on by name (``add_ons=("insurance",)``);
#   ``quote(*, principal, tenor, terms, quote)`` prices it for a quote (a dict of extra figures);
#   ``describe(plan)`` is what the API shows of it on a plan (``None``: the plan has none).


@dataclass(frozen=True)
class PlanAddOn:
    name: str
    attach: Callable[..., object]
    quote: Callable[..., dict]
    describe: Callable[..., dict | None] = lambda plan: None  # what the API shows of it on a plan
    relation: str = ""  # the plan's reverse one-to-one to the add-on's row, joined when plans are read


StatementBiller = Callable[..., None]
_statement_billers: dict[str, StatementBiller] = {}
_plan_add_ons: dict[str, PlanAddOn] = {}


def register_statement_biller(name: str, biller: StatementBiller) -> None:
    _statement_billers[name] = biller


def unregister_statement_biller(name: str) -> None:
    _statement_billers.pop(name, None)


def run_statement_billers(*, on: dt.date, drafts: str, params: list) -> None:
    for biller in list(_statement_billers.values()):
        biller(on=on, drafts=drafts, params=list(params))


#: **The day's close** (a whole business day, every app's steps): the close-of-business app registers its
#: pipeline (``cob.pipeline.run_date``) here, so engine code that must close a day (the demo's history) runs
#: the real pipeline without importing the app above it. Unregistered: the engine's own daily steps.
_day_closer: list[Callable[[dt.date], object]] = []


def register_day_closer(closer: Callable[[dt.date], object]) -> None:
    _day_closer[:] = [closer]


def day_closer() -> Callable[[dt.date], object] | None:
    return _day_closer[0] if _day_closer else None


#: **A replayed history's mornings** (the demo): what the beat tasks on the wall clock would have done the morning
#: after each closed day — the notices app registers its delivery of the notices due then.
_replay_mornings: dict[str, Callable[[dt.date], object]] = {}


def register_replay_morning(name: str, fn: Callable[[dt.date], object]) -> None:
    _replay_mornings[name] = fn


def replay_morning(morning: dt.date) -> None:
    for fn in list(_replay_mornings.values()):
        fn(morning)


def register_plan_add_on(add_on: PlanAddOn) -> None:
    _plan_add_ons[add_on.name] = add_on


def plan_add_on(name: str) -> PlanAddOn | None:
    return _plan_add_ons.get(name)


def plan_add_on_relations() -> list[str]:
    """The add-ons' relations of a plan, for ``select_related`` (a plan's answer then costs no query more)."""
    return [a.relation for a in _plan_add_ons.values() if a.relation]


def plan_add_ons_attach(*, plan, add_ons, actor) -> None:
    """Attach the add-ons asked for to a new installment plan (inside its transaction). An add-on no app
    provides is refused, so a request never silently goes without what it asked for."""
    from core.errors import ValidationError

    for add_on in _plan_add_ons.values():  # a new plan has none yet: its answer reads no relation back
        if add_on.relation:
            plan._state.fields_cache.setdefault(add_on.relation, None)
    for name in add_ons or ():
        add_on = _plan_add_ons.get(name)
        if add_on is None:
            raise ValidationError(f"The add-on {name!r} is not offered.", code="add_on_unavailable",
                                  details={"add_on": name})
        add_on.attach(plan=plan, actor=actor)


# --- Plan events (issue 25: add-ons follow their plan) -----------------------------------------------------
#
# An add-on sold with a plan follows what happens to it: ``fn(*, plan, event, actor, on, **details)`` is
# called inside the engine's transaction after a purchase refund changed the plan (``event="refunded"``,
# details ``principal_before``, ``principal_after``: the plan's principal still owed before and after) and
# after an early settlement (``event="settled"``). Write-offs are followed by close of business.

PlanListener = Callable[..., None]
_plan_listeners: dict[str, PlanListener] = {}


def register_plan_listener(name: str, listener: PlanListener) -> None:
    _plan_listeners[name] = listener


def unregister_plan_listener(name: str) -> None:
    _plan_listeners.pop(name, None)


def plan_event(*, plan, event: str, actor, on: dt.date, **details) -> None:
    for listener in list(_plan_listeners.values()):
        listener(plan=plan, event=event, actor=actor, on=on, **details)

"""The limit policy (PRODUCT §3): the one rule every path that sets a limit goes through — staff's
changes, account opening (admin, import, application), temporary limits (admin, campaign lists,
campaigns) and automatic reviews. ``accounts.services`` calls :func:`check_fixed_limit` and
:func:`check_temporary_limit` after locking the account, so every path is refused with the same code
and message.

The numbers live in a staff-editable policy record that accounts does not own: the risk app's
``RiskPolicy`` (``max_limit``, ``max_temporary_share``), plugged in from ``RiskConfig.ready()``::

    from accounts.limits import LimitPolicy, register_limit_policy
    register_limit_policy(lambda: LimitPolicy(max_limit=..., max_temporary_share=...))

Without a provider (accounts used alone) the PRODUCT defaults apply: limits are never unbounded.
"""
from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from collections.abc import Callable

from core.errors import BusinessRuleError
from core.money import format_cny


@dataclass(frozen=True)
class LimitPolicy:
    max_limit: Decimal  # no fixed limit above this
    max_temporary_share: Decimal  # temporary limits overlapping a day: at most this share of the fixed limit


DEFAULT_LIMIT_POLICY = LimitPolicy(max_limit=Decimal("50000.00"), max_temporary_share=Decimal("1.00"))

_provider: list[Callable[[], LimitPolicy]] = []


class LimitPolicyError(BusinessRuleError):
    """A limit outside the policy (422)."""

    code = "limit_policy"


def register_limit_policy(provider: Callable[[], LimitPolicy]) -> None:
    """Set the one provider of the policy's numbers (replaces an earlier one)."""
    _provider[:] = [provider]


def current_limit_policy() -> LimitPolicy:
    return _provider[0]() if _provider else DEFAULT_LIMIT_POLICY


def check_fixed_limit(*, old_limit: Decimal, new_limit: Decimal, used_amount: Decimal,
                      temporary_today: Decimal, by_system: bool = False, policy: LimitPolicy | None = None) -> None:
    """A fixed limit is never above the policy maximum, and staff's cut never leaves the line (fixed +
    today's temporary limits) below what the customer has already used. The one exception is the
    automatic review's cut of an account that went overdue or fell a score band (PRODUCT §3, a system
    rule, ``by_system``): it may cut below the used amount, so that nothing more can be bought."""
    policy = policy or current_limit_policy()
    if new_limit > policy.max_limit:
        raise LimitPolicyError(
            f"A fixed limit of {format_cny(new_limit)} is above the policy maximum of {format_cny(policy.max_limit)}.",
            code="limit_above_maximum", details={"new_limit": str(new_limit), "max_limit": str(policy.max_limit)},
        )
    if not by_system and new_limit < old_limit and new_limit + temporary_today < used_amount:
        raise LimitPolicyError(
            f"A fixed limit of {format_cny(new_limit)} is below what is used ({format_cny(used_amount)}"
            + (f", with {format_cny(temporary_today)} of temporary limits" if temporary_today else "") + ").",
            code="limit_below_used",
            details={"new_limit": str(new_limit), "used_amount": str(used_amount), "temporary_today": str(temporary_today)},
        )


def check_temporary_limit(*, fixed_limit: Decimal, overlapping: Decimal, amount: Decimal,
                          policy: LimitPolicy | None = None) -> None:
    """The temporary limits in force on any day of the new one (``overlapping`` + ``amount``) are at
    most ``max_temporary_share`` of the fixed limit."""
    policy = policy or current_limit_policy()
    ceiling = (fixed_limit * policy.max_temporary_share).quantize(Decimal("0.01"))
    if overlapping + amount > ceiling:
        raise LimitPolicyError(
            f"Temporary limits of {format_cny(overlapping + amount)} in force at once are above the policy maximum of "
            f"{format_cny(ceiling)} ({policy.max_temporary_share * 100:.0f} % of the fixed limit).",
            code="temporary_limit_above_maximum",
            details={"amount": str(amount), "overlapping": str(overlapping), "max_temporary": str(ceiling)},
        )

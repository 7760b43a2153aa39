"""Pure rules of collections (PRODUCT §7): quiet hours, the contact rules, reminder kinds, the
choice of assignee and the verdict on a promise. No database and no clock: callers pass the facts
and the time, so every boundary (21:59 vs 22:00, the 3rd vs the 4th call) is tested directly."""
from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from decimal import Decimal
from collections.abc import Iterable, Sequence
from zoneinfo import ZoneInfo

from core.money import ZERO, money

#: Contact and quiet-hour rules are stated in Beijing time, whatever the server's time zone.
COLLECTIONS_TZ = ZoneInfo("Asia/Shanghai")


# --- Quiet hours ---------------------------------------------------------------------------------


def local(at: dt.datetime) -> dt.datetime:
    if at.tzinfo is None:
        raise ValueError("collections rules need timezone-aware datetimes")
    return at.astimezone(COLLECTIONS_TZ)


def in_quiet_hours(at: dt.datetime, *, start: dt.time, end: dt.time) -> bool:
    """True when ``at`` (Asia/Shanghai) is in [start, end), a window that may cross midnight.
    With the defaults 22:00–08:00: 21:59:59 → False, 22:00 → True, 07:59 → True, 08:00 → False."""
    t = local(at).time()
    if start == end:
        return False
    if start < end:
        return start <= t < end
    return t >= start or t < end


def next_allowed_time(at: dt.datetime, *, start: dt.time, end: dt.time) -> dt.datetime:
    """``at`` itself outside quiet hours, else the end of the quiet period (08:00 that morning or the
    next morning), in Asia/Shanghai."""
    if not in_quiet_hours(at, start=start, end=end):
        return at
    here = local(at)
    day = here.date()
    if start > end and here.time() >= start:  # evening part of a window that crosses midnight
        day += dt.timedelta(days=1)
    return dt.datetime.combine(day, end, tzinfo=COLLECTIONS_TZ)


def local_day_bounds(day: dt.date) -> tuple[dt.datetime, dt.datetime]:
    """[start, end) of a calendar day in Asia/Shanghai, as aware datetimes."""
    start = dt.datetime.combine(day, dt.time(0), tzinfo=COLLECTIONS_TZ)
    return start, start + dt.timedelta(days=1)


# --- Contact rules -------------------------------------------------------------------------------

EFFECTIVE_OUTCOMES = frozenset({"reached", "refused", "promise_to_pay", "paid", "dispute"})
UNANSWERED_OUTCOMES = frozenset({"no_answer"})
FAILED_OUTCOMES = frozenset({"no_answer", "wrong_number"})
THIRD_PARTY_OUTCOMES = frozenset({"reached", "no_answer", "wrong_number", "refused"})


@dataclass(frozen=True)
class Attempt:
    """A logged contact as the rules see it."""

    occurred_at: dt.datetime
    channel: str
    party: str  # "debtor" | "third_party"
    outcome: str
    direction: str = "outbound"
    third_party_id: int | None = None


@dataclass(frozen=True)
class ContactLimits:
    quiet_start: dt.time = dt.time(22, 0)
    quiet_end: dt.time = dt.time(8, 0)
    max_effective_voice: int = 3
    max_unanswered: int = 6
    unreachable_window_days: int = 3
    unreachable_min_attempts: int = 3


@dataclass(frozen=True)
class Refusal:
    """The rule a contact would break: ``rule`` is the machine-readable name, ``message`` says it."""

    rule: str
    message: str
    details: dict


@dataclass(frozen=True)
class ProposedContact:
    occurred_at: dt.datetime
    channel: str
    party: str
    outcome: str
    direction: str = "outbound"
    third_party_id: int | None = None
    third_party_refused: bool = False
    discloses_debt: bool = False


def debtor_unreachable(history: Iterable[Attempt], *, at: dt.datetime, limits: ContactLimits) -> bool:
    """The debtor is unreachable when, over the last ``unreachable_window_days`` days before ``at``,
    there were at least ``unreachable_min_attempts`` outbound attempts to them and every one failed
    (no answer / wrong number), and nothing effective came in either direction."""
    since = at - dt.timedelta(days=limits.unreachable_window_days)
    recent = [a for a in history if a.party == "debtor" and since <= a.occurred_at <= at]
    if any(a.outcome not in FAILED_OUTCOMES for a in recent):
        return False
    outbound = [a for a in recent if a.direction == "outbound"]
    return len(outbound) >= limits.unreachable_min_attempts


def check_contact(proposed: ProposedContact, history: Sequence[Attempt], limits: ContactLimits) -> Refusal | None:
    """The first rule ``proposed`` would break given the debtor's ``history`` (all their logged
    contacts, any case, any author), or ``None``. Inbound contacts (the debtor called us) break no
    rule. Order: quiet hours, third-party rules, the voice limit, the unanswered-attempts limit."""
    if proposed.direction == "inbound":
        if proposed.party != "debtor":
            return Refusal("inbound_third_party", "Only the debtor's own inbound contacts are logged.", {})
        return None
    at = proposed.occurred_at
    if in_quiet_hours(at, start=limits.quiet_start, end=limits.quiet_end):
        return Refusal(
            "quiet_hours",
            f"Rule 'quiet hours': no contact between {limits.quiet_start:%H:%M} and {limits.quiet_end:%H:%M} "
            "(Asia/Shanghai).",
            {"local_time": local(at).strftime("%H:%M"), "quiet_hours": f"{limits.quiet_start:%H:%M}–{limits.quiet_end:%H:%M}"},
        )
    if proposed.party == "third_party":
        if proposed.third_party_refused:
            return Refusal("third_party_refused",
                           "Rule 'third party refused': this person asked not to be contacted again.", {})
        if proposed.discloses_debt:
            return Refusal("third_party_disclosure",
                           "Rule 'no disclosure to third parties': a third party is never told about the debt.", {})
        if proposed.outcome not in THIRD_PARTY_OUTCOMES:
            return Refusal(
                "third_party_disclosure",
                "Rule 'no disclosure to third parties': a third party cannot promise, pay or dispute the debt.",
                {"outcome": proposed.outcome},
            )
        if not debtor_unreachable(history, at=at, limits=limits):
            return Refusal(
                "third_party_debtor_reachable",
                "Rule 'third parties only when the debtor is unreachable': the debtor was not unreachable "
                f"(at least {limits.unreachable_min_attempts} failed attempts and no contact in "
                f"{limits.unreachable_window_days} days).",
                {"window_days": limits.unreachable_window_days, "min_attempts": limits.unreachable_min_attempts},
            )
    day = local(at).date()
    today = [a for a in history if local(a.occurred_at).date() == day and a.direction == "outbound"]
    if proposed.party == "debtor" and proposed.channel == "voice":
        effective = sum(1 for a in today if a.party == "debtor" and a.channel == "voice" and a.outcome in EFFECTIVE_OUTCOMES)
        if effective >= limits.max_effective_voice:
            return Refusal(
                "voice_daily_limit",
                f"Rule 'at most {limits.max_effective_voice} effective voice contacts per debtor per day': "
                f"{effective} already on {day.isoformat()}.",
                {"effective_today": effective, "limit": limits.max_effective_voice},
            )
    same_person = [
        a for a in today
        if a.channel == proposed.channel and a.party == proposed.party
        and (proposed.party == "debtor" or a.third_party_id == proposed.third_party_id)
    ]
    unanswered = sum(1 for a in same_person if a.outcome in UNANSWERED_OUTCOMES)
    if unanswered >= limits.max_unanswered:
        return Refusal(
            "unanswered_daily_limit",
            f"Rule 'at most {limits.max_unanswered} unanswered attempts per channel per day': "
            f"{unanswered} on {proposed.channel} already on {day.isoformat()}.",
            {"unanswered_today": unanswered, "limit": limits.max_unanswered, "channel": proposed.channel},
        )
    return None


# --- Reminder kinds ----------------------------------------------------------------------------


def reminder_kind(*, due_date: dt.date, on: dt.date, before: Sequence[int], after: Sequence[int],
                  repeat_every: int) -> str | None:
    """The reminder kind due on ``on`` for a statement due on ``due_date``: ``T-3``, ``T-1``, ``T0``
    before; ``D+1``, ``D+3``, ``D+7`` after, then every ``repeat_every`` days (``D+14``, ``D+21`` …)
    counted from the last fixed day; ``None`` on other days. Whether the statement still needs one
    (unpaid minimum, not written off) is the caller's question."""
    days = (due_date - on).days
    if days >= 0:
        return ("T0" if days == 0 else f"T-{days}") if days in before else None
    past = -days
    if past in after:
        return f"D+{past}"
    last = max(after, default=0)
    if repeat_every > 0 and past > last and (past - last) % repeat_every == 0:
        return f"D+{past}"
    return None


# --- Assignment --------------------------------------------------------------------------------


@dataclass
class Seat:
    """A collector or agency that may take cases: its open cases now and its maximum."""

    key: tuple[str, int]
    open_cases: int
    maximum: int

    @property
    def free(self) -> int:
        return self.maximum - self.open_cases


def pick_seat(seats: Sequence[Seat]) -> Seat | None:
    """The seat with the fewest open cases that is below its maximum (ties: lowest key), or None."""
    candidates = [s for s in seats if s.open_cases < s.maximum]
    if not candidates:
        return None
    return min(candidates, key=lambda s: (s.open_cases, s.key))


# --- Promises ------------------------------------------------------------------------------------


def promise_verdict(*, amount: Decimal, paid: Decimal, promised_on: dt.date, on: dt.date) -> str | None:
    """The verdict at the close of business day ``on``: ``kept`` as soon as ``paid`` covers
    ``amount``; once the promised day has closed, ``partly_kept`` when something was paid and
    ``broken`` when nothing was; ``None`` while still pending."""
    amount, paid = money(amount), money(max(paid, ZERO))
    if paid >= amount:
        return "kept"
    if on < promised_on:
        return None
    return "partly_kept" if paid > ZERO else "broken"

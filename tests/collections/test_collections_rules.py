"""The pure rules of collections at their boundaries: quiet hours, reminder kinds, seats, promises."""
import datetime as dt
from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from debt_collection.rules import (
    COLLECTIONS_TZ,
    Attempt,
    ContactLimits,
    ProposedContact,
    Seat,
    check_contact,
    debtor_unreachable,
    in_quiet_hours,
    next_allowed_time,
    pick_seat,
    promise_verdict,
    reminder_kind,
)
from tests.factories_collections import at

Q = {"start": dt.time(22, 0), "end": dt.time(8, 0)}
LIMITS = ContactLimits()
DAY = dt.date(2026, 1, 5)


@pytest.mark.parametrize(
    "hhmm, quiet",
    [("21:59", False), ("22:00", True), ("23:59", True), ("00:00", True), ("07:59", True), ("08:00", False),
     ("12:00", False)],
)
def test_quiet_hours_boundaries(hhmm, quiet):
    assert in_quiet_hours(at(DAY, hhmm), **Q) is quiet


def test_quiet_hours_use_beijing_time_whatever_the_zone_of_the_datetime():
    utc_1400 = dt.datetime(2026, 1, 5, 14, 0, tzinfo=dt.UTC)  # = 22:00 in Shanghai
    utc_1359 = dt.datetime(2026, 1, 5, 13, 59, tzinfo=dt.UTC)
    assert in_quiet_hours(utc_1400, **Q) and not in_quiet_hours(utc_1359, **Q)


@pytest.mark.parametrize(
    "when, expected",
    [
        (("2026-01-05", "21:59"), ("2026-01-05", "21:59")),
        (("2026-01-05", "22:00"), ("2026-01-06", "08:00")),
        (("2026-01-05", "23:30"), ("2026-01-06", "08:00")),
        (("2026-01-06", "00:30"), ("2026-01-06", "08:00")),
        (("2026-01-06", "07:59"), ("2026-01-06", "08:00")),
        (("2026-01-06", "08:00"), ("2026-01-06", "08:00")),
    ],
    ids=lambda v: " ".join(v),
)
def test_next_allowed_time_moves_night_to_eight(when, expected):
    assert next_allowed_time(at(*when), **Q) == at(*expected)


@given(st.datetimes(min_value=dt.datetime(2025, 1, 1), max_value=dt.datetime(2027, 1, 1), timezones=st.just(COLLECTIONS_TZ)))
def test_next_allowed_time_is_never_quiet_and_never_earlier(moment):
    allowed = next_allowed_time(moment, **Q)
    assert not in_quiet_hours(allowed, **Q)
    assert moment <= allowed <= moment + dt.timedelta(hours=10)


@pytest.mark.parametrize(
    "days_to_due, kind",
    [(4, None), (3, "T-3"), (2, None), (1, "T-1"), (0, "T0"), (-1, "D+1"), (-2, None), (-3, "D+3"), (-5, None),
     (-7, "D+7"), (-8, None), (-13, None), (-14, "D+14"), (-21, "D+21"), (-28, "D+28"), (-29, None)],
)
def test_reminder_kinds(days_to_due, kind):
    due = DAY + dt.timedelta(days=days_to_due)
    assert reminder_kind(due_date=due, on=DAY, before=[3, 1, 0], after=[1, 3, 7], repeat_every=7) == kind


def test_reminder_kinds_without_repeat_stop_after_the_last():
    assert reminder_kind(due_date=DAY - dt.timedelta(days=14), on=DAY, before=[3], after=[1, 3, 7], repeat_every=0) is None


def _attempt(hhmm, *, channel="voice", party="debtor", outcome="reached", day=DAY, direction="outbound", tp=None):
    return Attempt(at(day, hhmm), channel, party, outcome, direction, tp)


def _propose(hhmm="10:00", *, day=DAY, **kw):
    kw.setdefault("channel", "voice")
    kw.setdefault("party", "debtor")
    kw.setdefault("outcome", "reached")
    return ProposedContact(occurred_at=at(day, hhmm), **kw)


@pytest.mark.parametrize("hhmm, rule", [("21:59", None), ("22:00", "quiet_hours"), ("07:59", "quiet_hours"),
                                       ("08:00", None)])
def test_contact_quiet_hours(hhmm, rule):
    refusal = check_contact(_propose(hhmm), [], LIMITS)
    assert (refusal.rule if refusal else None) == rule


def test_inbound_contacts_are_never_refused_even_at_night_or_over_the_limits():
    history = [_attempt(f"1{i}:00") for i in range(3)]
    assert check_contact(_propose("23:00", direction="inbound"), history, LIMITS) is None


@pytest.mark.parametrize("effective_before, rule", [(2, None), (3, "voice_daily_limit")], ids=["3rd call", "4th call"])
def test_voice_limit_third_versus_fourth(effective_before, rule):
    history = [_attempt(f"1{i}:00", outcome=o) for i, o in enumerate(["reached", "promise_to_pay", "dispute"][:effective_before])]
    history += [_attempt("09:00", outcome="no_answer")]  # unanswered calls are not effective contacts
    history += [_attempt("09:30", channel="sms")]  # other channels do not count
    history += [_attempt("10:30", day=DAY - dt.timedelta(days=1))] * 3  # yesterday does not count
    refusal = check_contact(_propose("18:00", outcome="no_answer"), history, LIMITS)
    assert (refusal.rule if refusal else None) == rule


@pytest.mark.parametrize("unanswered_before, rule", [(5, None), (6, "unanswered_daily_limit")], ids=["6th", "7th"])
def test_unanswered_limit_sixth_versus_seventh(unanswered_before, rule):
    history = [_attempt(f"{9 + i}:00", channel="sms", outcome="no_answer") for i in range(unanswered_before)]
    history += [_attempt("09:30", channel="voice", outcome="no_answer")] * 3  # another channel
    refusal = check_contact(_propose("18:00", channel="sms", outcome="no_answer"), history, LIMITS)
    assert (refusal.rule if refusal else None) == rule


def test_unreachable_needs_enough_failed_attempts_and_no_contact():
    now = at(DAY, "12:00")
    failed = [_attempt("09:00", outcome="no_answer"), _attempt("10:00", outcome="wrong_number")]
    assert not debtor_unreachable(failed, at=now, limits=LIMITS)
    three = failed + [_attempt("11:00", outcome="no_answer")]
    assert debtor_unreachable(three, at=now, limits=LIMITS)
    assert not debtor_unreachable(three + [_attempt("11:30", outcome="reached")], at=now, limits=LIMITS)
    old = [_attempt("09:00", outcome="no_answer", day=DAY - dt.timedelta(days=4))] * 3
    assert not debtor_unreachable(old, at=now, limits=LIMITS)


@pytest.mark.parametrize(
    "kw, rule",
    [
        ({}, "third_party_debtor_reachable"),
        ({"unreachable": True}, None),
        ({"unreachable": True, "third_party_refused": True}, "third_party_refused"),
        ({"unreachable": True, "discloses_debt": True}, "third_party_disclosure"),
        ({"unreachable": True, "outcome": "promise_to_pay"}, "third_party_disclosure"),
    ],
    ids=["debtor reachable", "debtor unreachable", "refused before", "disclosure", "third party promise"],
)
def test_third_party_rules(kw, rule):
    history = [_attempt(f"0{8 + i}:00", outcome="no_answer") for i in range(3)] if kw.pop("unreachable", False) else []
    refusal = check_contact(_propose("12:00", party="third_party", third_party_id=7, **kw), history, LIMITS)
    assert (refusal.rule if refusal else None) == rule


def test_pick_seat_balances_and_respects_maxima():
    seats = [Seat(("collector", 1), 3, 3), Seat(("collector", 2), 2, 5), Seat(("collector", 3), 2, 5)]
    assert pick_seat(seats).key == ("collector", 2)  # fewest open, lowest key on a tie; #1 is full
    assert pick_seat([Seat(("collector", 1), 3, 3)]) is None


@pytest.mark.parametrize(
    "paid, on, verdict",
    [
        ("100.00", "2026-01-08", "kept"),  # covered early: kept at once
        ("150.00", "2026-01-10", "kept"),
        ("99.99", "2026-01-09", None),  # the promised day has not closed yet
        ("99.99", "2026-01-10", "partly_kept"),  # the close of the promised day decides
        ("0.01", "2026-01-11", "partly_kept"),
        ("0.00", "2026-01-09", None),
        ("0.00", "2026-01-10", "broken"),
    ],
)
def test_promise_verdicts(paid, on, verdict):
    result = promise_verdict(amount=Decimal("100.00"), paid=Decimal(paid), promised_on=dt.date(2026, 1, 10),
                             on=dt.date.fromisoformat(on))
    assert result == verdict

"""The contact log (PRODUCT §7). ``contact_log`` is the only writer: it enforces the rules of
GB/T 45251-2025 and the banking association guideline and refuses a breach with the rule named —
nothing is written then. Rule checks for one debtor are serialised by a lock on the customer row,
so two collectors cannot both log the 4th call of the day."""
from __future__ import annotations

import datetime as dt
from decimal import Decimal

from django.db import transaction

from accounts.models import Customer
from core import business_date
from core.errors import BusinessRuleError, ValidationError
from debt_collection.models import Channel, CollectionCase, ContactAttempt, ThirdParty
from debt_collection.rules import Attempt, ProposedContact, check_contact, in_quiet_hours, local, local_day_bounds
from debt_collection.selectors import contact_limits, policy_get
from debt_collection.services.common import Author, ensure_case_access

FUTURE_TOLERANCE = dt.timedelta(minutes=2)


def _history(customer_id: int, *, since: dt.datetime, until: dt.datetime) -> list[Attempt]:
    rows = ContactAttempt.objects.filter(customer_id=customer_id, occurred_at__gte=since, occurred_at__lt=until).values_list(
        "occurred_at", "channel", "party", "outcome", "direction", "third_party_id"
    )
    return [Attempt(*row) for row in rows]


def _check_callback(callback_at: dt.datetime, *, occurred_at: dt.datetime, policy) -> None:
    """A call-back is a planned contact: after this one, never in quiet hours, not beyond the horizon."""
    if callback_at.tzinfo is None:
        raise ValidationError("The call-back time needs a time zone.", code="invalid_time")
    if callback_at <= occurred_at:
        raise ValidationError("A call-back is after the contact.", code="callback_in_past")
    if in_quiet_hours(callback_at, start=policy.quiet_hours_start, end=policy.quiet_hours_end):
        raise BusinessRuleError(
            f"Rule 'quiet hours': no contact between {policy.quiet_hours_start:%H:%M} and "
            f"{policy.quiet_hours_end:%H:%M} (Asia/Shanghai), so no call-back then.",
            code="contact_rule_quiet_hours",
            details={"rule": "quiet_hours", "local_time": local(callback_at).strftime("%H:%M"),
                     "quiet_hours": f"{policy.quiet_hours_start:%H:%M}–{policy.quiet_hours_end:%H:%M}"},
        )
    if local(callback_at).date() > local(occurred_at).date() + dt.timedelta(days=policy.promise_max_days):
        raise ValidationError(f"A call-back is at most {policy.promise_max_days} days ahead.", code="callback_too_far")


@transaction.atomic
def contact_log(
    *,
    case: CollectionCase,
    author: Author,
    channel: str,
    outcome: str,
    party: str = ContactAttempt.Party.DEBTOR,
    direction: str = ContactAttempt.Direction.OUTBOUND,
    third_party: ThirdParty | None = None,
    occurred_at: dt.datetime | None = None,
    note: str = "",
    discloses_debt: bool = False,
    promise_amount: Decimal | None = None,
    promise_date: dt.date | None = None,
    callback_at: dt.datetime | None = None,
    now: dt.datetime | None = None,
) -> ContactAttempt:
    """Log a contact on ``case``. With outcome ``promise_to_pay`` the promise (amount, date) is
    recorded in the same transaction. ``callback_at``: a call-back agreed for later (after the
    contact, outside quiet hours, within the policy's promise horizon); it lands on the collector's
    day list. Refusals: ``BusinessRuleError`` with code ``contact_rule_<rule>`` and
    ``details["rule"]``; a case not assigned to the author: 403."""
    now = now or business_date.now_local()
    occurred_at = occurred_at or now
    if occurred_at.tzinfo is None:
        raise ValidationError("The contact time needs a time zone.", code="invalid_time")
    if channel not in Channel.values:
        raise ValidationError(f"Unknown channel {channel!r}.", code="invalid_channel")
    if outcome not in ContactAttempt.Outcome.values:
        raise ValidationError(f"Unknown outcome {outcome!r}.", code="invalid_outcome")
    if party not in ContactAttempt.Party.values:
        raise ValidationError(f"Unknown party {party!r}.", code="invalid_party")
    if direction not in ContactAttempt.Direction.values:
        raise ValidationError(f"Unknown direction {direction!r}.", code="invalid_direction")
    if (party == ContactAttempt.Party.THIRD_PARTY) != (third_party is not None):
        raise ValidationError("A third-party contact names the third party (and only then).", code="third_party_required")
    wants_promise = outcome == ContactAttempt.Outcome.PROMISE_TO_PAY
    if wants_promise and (promise_amount is None or promise_date is None):
        raise ValidationError("A promise to pay needs an amount and a date.", code="promise_required")
    if not wants_promise and (promise_amount is not None or promise_date is not None):
        raise ValidationError("An amount and date go with the outcome 'promise to pay' only.", code="promise_unexpected")
    policy = policy_get()
    if callback_at is not None:
        _check_callback(callback_at, occurred_at=occurred_at, policy=policy)
    if occurred_at > now + FUTURE_TOLERANCE:
        raise ValidationError("A contact cannot be logged in the future.", code="contact_in_future")
    if occurred_at < now - dt.timedelta(hours=policy.max_backdate_hours):
        raise ValidationError(
            f"A contact is logged within {policy.max_backdate_hours} hours of happening.", code="contact_too_old"
        )

    # Serialise rule checks per debtor (customer row), then lock the case.
    Customer.objects.select_for_update(of=("self",)).filter(pk=case.customer_id).values_list("pk", flat=True).first()
    case = CollectionCase.objects.select_for_update(of=("self",)).get(pk=case.pk)
    ensure_case_access(case, author)
    if case.status != CollectionCase.Status.OPEN:
        raise BusinessRuleError("The case is closed.", code="case_closed")
    if third_party is not None:
        third_party = ThirdParty.objects.select_for_update(of=("self",)).get(pk=third_party.pk)
        if third_party.customer_id != case.customer_id:
            raise ValidationError("That third party belongs to another customer.", code="third_party_mismatch")

    limits = contact_limits(policy)
    day_start, day_end = local_day_bounds(local(occurred_at).date())
    since = min(day_start, occurred_at - dt.timedelta(days=limits.unreachable_window_days))
    history = _history(case.customer_id, since=since, until=max(day_end, occurred_at + dt.timedelta(seconds=1)))
    refusal = check_contact(
        ProposedContact(
            occurred_at=occurred_at, channel=channel, party=party, outcome=outcome, direction=direction,
            third_party_id=third_party.pk if third_party else None,
            third_party_refused=bool(third_party and third_party.refused_at),
            discloses_debt=discloses_debt,
        ),
        history,
        limits,
    )
    if refusal is not None:
        raise BusinessRuleError(refusal.message, code=f"contact_rule_{refusal.rule}",
                                details={"rule": refusal.rule, **refusal.details})

    contact = ContactAttempt.objects.create(
        case=case, customer_id=case.customer_id, channel=channel, direction=direction, party=party,
        third_party=third_party, occurred_at=occurred_at, outcome=outcome, note=note.strip()[:1000],
        callback_at=callback_at, **author.fields(),
    )
    if third_party is not None and outcome == ContactAttempt.Outcome.REFUSED:
        third_party.refused_at = occurred_at
        third_party.save(update_fields=["refused_at", "updated_at"])
    if case.last_contact_at is None or occurred_at > case.last_contact_at:
        case.last_contact_at = occurred_at
        case.save(update_fields=["last_contact_at", "updated_at"])
    if wants_promise:
        from debt_collection.services.promises import _promise_create

        _promise_create(case=case, author=author, amount=promise_amount, promised_on=promise_date, contact=contact,
                        policy=policy)
    return contact


@transaction.atomic
def third_party_add(*, case: CollectionCase, author: Author, name: str, relation: str, mobile: str) -> ThirdParty:
    """Record a person the debtor named as a contact (by whoever works the case)."""
    name, relation, mobile = (name or "").strip(), (relation or "").strip(), (mobile or "").strip()
    if not (name and relation and mobile):
        raise ValidationError("A third party needs a name, a relation and a number.", code="third_party_incomplete")
    ensure_case_access(case, author)
    return ThirdParty.objects.create(customer_id=case.customer_id, name=name[:100], relation=relation[:60],
                                     mobile=mobile[:20])

"""The collector's desk (issue 26, PRODUCT §7): click-to-call and the SMS payment link.

* ``case_call_start``: only the collector the case is assigned to. The call must be allowed by the
  contact rules whatever its outcome (quiet hours, the daily voice and unanswered limits), else it is
  refused with the rule and nothing is logged. Then the debtor's mobile number is revealed in full —
  one row in the privacy access log (``privacy.services.pii_access_record``, channel
  ``collector_call``) and one audit event — and the call is started through the configured
  :mod:`~debt_collection.telephony` dialler. The outcome is logged afterwards with ``contact_log``.
* ``case_payment_link_send``: an SMS with a payment link (``COLLECTIONS_PAYMENT_LINK_BASE`` + a signed,
  expiring token of the case and account) through the reminder gateway; refused for a customer who
  opted out of SMS, whose processing is restricted, in quiet hours or over the daily limits (the
  contact rules of ``contact_log``, which logs it as an outbound SMS contact)."""
from __future__ import annotations

import datetime as dt
import uuid
from dataclasses import dataclass

from django.conf import settings
from django.core import signing
from django.db import transaction

from core import business_date
from core.actors import Actor
from core.audit import audit_record
from core.errors import BusinessRuleError, PermissionDeniedError, ValidationError
from core.money import format_cny
from debt_collection import gateway
from debt_collection.models import Channel, ChannelPreference, CollectionCase, ContactAttempt
from debt_collection.rules import ProposedContact, check_contact, local, local_day_bounds
from debt_collection.selectors import WORK_PERMISSION, contact_limits
from debt_collection.services.common import Author, ensure_case_access
from debt_collection.services.contacts import _history, contact_log
from debt_collection.telephony import DiallerError, OutgoingCall, get_dialler
from privacy.models import PiiAccessLog
from privacy.services import pii_access_record

PAYMENT_LINK_SALT = "debt_collection.payment_link"


@dataclass(frozen=True)
class CallStarted:
    number: str
    call_id: str  # the dialler's id ("" when it failed)
    error: str = ""  # why the dialler could not start the call (the number is still shown)

    @property
    def tel_url(self) -> str:
        return "tel:" + "".join(ch for ch in self.number if ch.isdigit() or ch == "+")


def _refuse_if_personal_data_off(case: CollectionCase) -> None:
    customer = case.customer
    if customer.anonymised_at is not None or customer.processing_restricted:
        raise BusinessRuleError("The customer's personal data may not be used (processing restricted or anonymised).",
                                code="processing_restricted")
    if not customer.mobile:
        raise BusinessRuleError("The customer has no mobile number.", code="no_mobile")


@transaction.atomic
def case_call_start(*, case: CollectionCase, user, ip_address: str | None = None,
                    now: dt.datetime | None = None) -> CallStarted:
    """Reveal the debtor's number to the assigned collector (logged) and start the call."""
    now = now or business_date.now_local()
    case = (CollectionCase.objects.select_for_update(of=("self",)).select_related("customer", "collector__user")
            .get(pk=case.pk))
    if not (user is not None and user.is_active and user.has_perm(WORK_PERMISSION)
            and case.collector_id and case.collector.user_id == user.pk):
        raise PermissionDeniedError("Only the collector the case is assigned to may call the debtor.",
                                    code="case_not_yours")
    if case.status != CollectionCase.Status.OPEN:
        raise BusinessRuleError("The case is closed.", code="case_closed")
    _refuse_if_personal_data_off(case)
    # Whatever the call's outcome will be, it must be allowed: try it as effective and as unanswered.
    limits = contact_limits()
    day_start, day_end = local_day_bounds(local(now).date())
    history = _history(case.customer_id, since=day_start, until=day_end)
    for outcome in (ContactAttempt.Outcome.REACHED, ContactAttempt.Outcome.NO_ANSWER):
        refusal = check_contact(
            ProposedContact(occurred_at=now, channel=Channel.VOICE, party=ContactAttempt.Party.DEBTOR, outcome=outcome),
            history, limits,
        )
        if refusal is not None:
            raise BusinessRuleError(refusal.message, code=f"contact_rule_{refusal.rule}",
                                    details={"rule": refusal.rule, **refusal.details})
    customer = case.customer
    pii_access_record(user=user, customer_id=customer.pk, channel=PiiAccessLog.Channel.COLLECTOR_CALL,
                      fields=["mobile"], reason=f"Click-to-call on collection case {case.reference}",
                      ip_address=ip_address)
    audit_record(actor=Actor.staff(user), action="case_call_start", obj=case,
                 new={"fields": ["mobile"], "channel": PiiAccessLog.Channel.COLLECTOR_CALL})
    call = OutgoingCall(number=customer.mobile, case_reference=case.reference, customer_reference=customer.reference,
                        collector_username=user.get_username(), idempotency_key=f"call-{case.reference}-{uuid.uuid4().hex}")
    try:
        call_id = get_dialler().dial(call)
    except DiallerError as exc:
        return CallStarted(number=customer.mobile, call_id="", error=str(exc))
    return CallStarted(number=customer.mobile, call_id=call_id)


# --- The SMS payment link --------------------------------------------------------------------------


def payment_link_token(case: CollectionCase) -> str:
    """A signed, timestamped token of the case and its account (references, never primary keys)."""
    return signing.dumps({"case": case.reference, "account": case.account.reference}, salt=PAYMENT_LINK_SALT,
                         compress=True)


def payment_link_url(case: CollectionCase) -> str:
    base = settings.COLLECTIONS_PAYMENT_LINK_BASE
    return f"{base}{'' if base.endswith(('/', '=')) else '/'}{payment_link_token(case)}"


def payment_link_read(token: str, *, max_age_days: int | None = None) -> dict[str, str]:
    """The case and account references of a payment link's token; refused when forged or expired."""
    days = settings.COLLECTIONS_PAYMENT_LINK_MAX_AGE_DAYS if max_age_days is None else max_age_days
    try:
        return signing.loads(token, salt=PAYMENT_LINK_SALT, max_age=dt.timedelta(days=days))
    except signing.SignatureExpired:
        raise ValidationError("The payment link has expired.", code="payment_link_expired") from None
    except signing.BadSignature:
        raise ValidationError("The payment link is not valid.", code="payment_link_invalid") from None


def payment_link_sms_body(case: CollectionCase, url: str) -> str:
    """The customer's SMS (Chinese: the customer-facing language of the product)."""
    return (f"【白条】您的账户 {case.account.reference} 已逾期 {case.dpd} 天，逾期金额 {format_cny(case.amount_overdue)}。"
            f"请点击链接还款：{url} 如已还款请忽略。回复TD退订")


@transaction.atomic
def case_payment_link_send(*, case: CollectionCase, author: Author, now: dt.datetime | None = None) -> ContactAttempt:
    """Send the debtor an SMS with a payment link, logged as an outbound SMS contact (outcome
    ``reached``: the message was handed to the gateway). Refused, with nothing sent or recorded: the
    customer opted out of SMS, processing restricted, no mobile, or a contact rule (quiet hours, the
    daily limits) — and when the gateway rejects the message."""
    now = now or business_date.now_local()
    case = CollectionCase.objects.select_related("customer", "account").get(pk=case.pk)
    ensure_case_access(case, author)
    _refuse_if_personal_data_off(case)
    if ChannelPreference.objects.filter(customer_id=case.customer_id, channel=Channel.SMS, opted_out=True).exists():
        raise BusinessRuleError("The customer opted out of SMS: no payment link by SMS.", code="sms_opted_out")
    # Access, the case's state and the contact rules are checked by contact_log (and nothing is written on refusal).
    contact = contact_log(case=case, author=author, channel=Channel.SMS, outcome=ContactAttempt.Outcome.REACHED,
                          note="Payment link sent by SMS", occurred_at=now, now=now)
    url = payment_link_url(case)
    message = gateway.OutgoingMessage(channel=Channel.SMS, recipient=case.customer.mobile, subject="",
                                      body=payment_link_sms_body(case, url), idempotency_key=f"paylink-{contact.reference}",
                                      customer_reference=case.customer.reference)
    try:
        gateway.send(message)
    except gateway.GatewayError as exc:  # the transaction rolls back: no contact is recorded
        raise BusinessRuleError(f"The SMS gateway did not accept the message: {exc}", code="gateway_refused") from None
    return contact

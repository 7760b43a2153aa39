"""Screen helpers of the collector's desk (docs/desk-collector.md): the call script filled in for a case,
and refusals said in plain language in the user's language (the services' messages are English)."""
from __future__ import annotations

from dataclasses import dataclass

from django.utils.translation import get_language, gettext_lazy as _

from core.errors import ApplicationError
from core.money import format_cny
from debt_collection import engine, selectors
from debt_collection.models import CallScript, CollectionCase


@dataclass(frozen=True)
class RenderedScript:
    script: CallScript
    text: str


def script_language() -> str:
    return CallScript.Language.ZH_HANS if (get_language() or "").lower().startswith("zh") else CallScript.Language.EN


def call_script(case: CollectionCase, *, collector_name: str = "") -> RenderedScript | None:
    """The script of the case's bucket in the user's language, with the case's figures filled in."""
    from debt_collection.services.reminders import template_render

    script = selectors.call_script_for(bucket=case.bucket, language=script_language())
    if script is None:
        return None
    due = engine.oldest_overdue_due_date(case.account_id)
    context = {
        "customer_name": case.customer.masked_name, "amount_overdue": format_cny(case.amount_overdue),
        "due_date": due.isoformat() if due else "—", "dpd": case.dpd, "bucket": case.get_bucket_display(),
        "collector_name": collector_name,
    }
    try:
        return RenderedScript(script, template_render(script.body, context))
    except ApplicationError as exc:  # a script broken by hand still shows why
        return RenderedScript(script, exc.message)


#: A refusal's code → its text for people (``details`` fill the placeholders).
REFUSALS = {
    "contact_rule_quiet_hours": _("Not allowed by the rule “quiet hours”: no contact with debtors between "
                                  "%(quiet_hours)s (Asia/Shanghai). Nothing was recorded."),
    "contact_rule_voice_daily_limit": _("Not allowed by the rule “at most %(limit)s effective calls with a debtor a "
                                        "day”: %(effective_today)s already today. Nothing was recorded."),
    "contact_rule_unanswered_daily_limit": _("Not allowed by the rule “at most %(limit)s unanswered attempts per "
                                             "channel a day”: %(unanswered_today)s already today. Nothing was "
                                             "recorded."),
    "contact_rule_third_party_refused": _("Not allowed: this third party asked not to be contacted again. Nothing "
                                          "was recorded."),
    "contact_rule_third_party_disclosure": _("Not allowed: a third party is never told about the debt, and cannot "
                                             "promise, pay or dispute it. Nothing was recorded."),
    "contact_rule_third_party_debtor_reachable": _("Not allowed: a third party is contacted only when the debtor is "
                                                   "unreachable (at least %(min_attempts)s failed attempts and no "
                                                   "contact in %(window_days)s days). Nothing was recorded."),
    "contact_rule_inbound_third_party": _("Only the debtor's own inbound contacts are logged. Nothing was recorded."),
    "sms_opted_out": _("The customer opted out of SMS: no payment link was sent. Nothing was recorded."),
    "processing_restricted": _("The customer's personal data may not be used (processing restricted or "
                               "anonymised)."),
    "no_mobile": _("The customer has no mobile number."),
    "case_closed": _("The case is closed."),
    "case_not_yours": _("This case is not assigned to you."),
    "promise_pending": _("The case already has a pending promise: cancel it first. Nothing was recorded."),
    "callback_in_past": _("A call-back is after the call."),
    "callback_too_far": _("The call-back is too far ahead."),
    "gateway_refused": _("The SMS gateway did not accept the message. Nothing was recorded."),
}


def refusal_text(exc: ApplicationError) -> str:
    """``exc`` in plain language, in the user's language (the service's English message as a fallback)."""
    template = REFUSALS.get(exc.code)
    if template is None:
        return exc.message
    details = exc.details if isinstance(exc.details, dict) else {}
    try:
        text = str(template)
        return text % details if "%(" in text else text
    except (KeyError, TypeError, ValueError):
        return exc.message

"""Writes of the collections app (``<entity>_<action>``, keyword-only, under ``transaction.atomic``)."""
from debt_collection.services.cases import (
    case_assign,
    case_close,
    case_recall,
    cases_assign,
    cases_recall_from_agencies,
    cases_sync,
)
from debt_collection.services.common import Author
from debt_collection.services.contacts import contact_log, third_party_add
from debt_collection.services.desk import (
    CallStarted,
    case_call_start,
    case_payment_link_send,
    payment_link_read,
    payment_link_url,
)
from debt_collection.services.promises import promise_cancel, promise_record, promises_evaluate
from debt_collection.services.setup import agency_evaluate, config_save
from debt_collection.services.reminders import (
    SendOutcome,
    channel_preference_set,
    reminder_message_send,
    reminders_dispatch_due,
    reminders_queue,
    template_compile,
    template_render,
)

__all__ = [
    "agency_evaluate", "config_save", "Author", "case_assign", "case_close", "case_recall", "cases_assign", "cases_recall_from_agencies", "cases_sync", "channel_preference_set",
    "contact_log", "promise_cancel", "promise_record", "promises_evaluate", "reminder_message_send",
    "reminders_dispatch_due", "reminders_queue", "SendOutcome", "template_compile", "template_render",
    "third_party_add", "CallStarted", "case_call_start", "case_payment_link_send", "payment_link_read",
    "payment_link_url",
]

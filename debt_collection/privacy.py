"""What collections holds about a customer, for the privacy app's export and erasure (PIPL)."""
from __future__ import annotations

from django.apps import apps


def collections_anonymise(customer, *, retained: bool) -> int:
    """Erase third parties' personal data always (no duty keeps another person's details), and
    free-text notes and rendered messages unless a retention duty keeps the collection records;
    the records themselves (dates, amounts, outcomes) stay as transaction history."""
    ThirdParty = apps.get_model("collections", "ThirdParty")
    ContactAttempt = apps.get_model("collections", "ContactAttempt")
    ReminderMessage = apps.get_model("collections", "ReminderMessage")
    changed = ThirdParty.objects.filter(customer=customer).update(name="Anonymised", mobile="", relation="—")
    if not retained:
        changed += ContactAttempt.objects.filter(customer=customer).exclude(note="").update(note="")
        changed += ReminderMessage.objects.filter(reminder__account__customer=customer).update(
            recipient="", subject="", body=""
        )
    return changed


def register_provider() -> None:
    from privacy.registry import Provider, RecordSet, register

    register(Provider(
        key="collections",
        label="Collections",
        records=(
            RecordSet("collection_cases", "collections.CollectionCase",
                      description="Collection cases opened when an account was overdue."),
            RecordSet("collection_case_history", "collections.HistoricalCollectionCase",
                      description="Earlier versions of the cases: who assigned, transferred, recalled or closed them."),
            RecordSet("collection_case_escalations", "collections.CaseEscalation", customer_path="case__customer"),
            RecordSet("collection_case_assignments", "collections.CaseAssignment", customer_path="case__customer",
                      fields=("case", "collector", "agency", "bucket", "started_on", "ended_on", "end_reason"),
                      description="Who worked the case and when (collectors and agencies)."),
            RecordSet("collection_contacts", "collections.ContactAttempt",
                      description="Contacts made about the debt: channel, party, time, outcome."),
            RecordSet("collection_promises", "collections.PromiseToPay", customer_path="case__customer"),
            RecordSet("collection_third_parties", "collections.ThirdParty",
                      description="People the customer named as contacts."),
            RecordSet("reminders", "collections.Reminder", customer_path="account__customer"),
            RecordSet("reminder_messages", "collections.ReminderMessage", customer_path="reminder__account__customer",
                      exclude=("provider_message_id",)),
            RecordSet("reminder_channel_preferences", "collections.ChannelPreference"),
        ),
        erases=(
            "collections.ThirdParty.name", "collections.ThirdParty.mobile", "collections.ReminderMessage.recipient",
        ),
        anonymise=collections_anonymise,
    ))

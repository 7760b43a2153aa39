"""Forms of the collections screens. They only parse input: every write is a service call."""
from __future__ import annotations

import datetime as dt

from django import forms
from django.utils import timezone

from core.business_date import get_business_date
from core.money import MONEY_DECIMAL_PLACES, MONEY_MAX_DIGITS
from debt_collection.models import (
    Agency,
    CallScript,
    Channel,
    Collector,
    ContactAttempt,
    ReminderTemplate,
    ThirdParty,
)
from debt_collection.rules import COLLECTIONS_TZ
from django.utils.translation import gettext_lazy as _


def _amount(**kwargs) -> forms.DecimalField:
    return forms.DecimalField(max_digits=MONEY_MAX_DIGITS, decimal_places=MONEY_DECIMAL_PLACES, min_value=0, **kwargs)


class ContactForm(forms.Form):
    channel = forms.ChoiceField(choices=Channel.choices, initial=Channel.VOICE, label=_("Channel"))
    direction = forms.ChoiceField(choices=ContactAttempt.Direction.choices, initial=ContactAttempt.Direction.OUTBOUND, label=_("Direction"))
    party = forms.ChoiceField(choices=ContactAttempt.Party.choices, initial=ContactAttempt.Party.DEBTOR, label=_("Party"))
    third_party = forms.ModelChoiceField(queryset=ThirdParty.objects.none(), required=False,
                                         help_text=_("Only for a third-party contact."), label=_("Third party"))
    occurred_at = forms.DateTimeField(
        label=_("When (Asia/Shanghai)"), help_text=_("YYYY-MM-DD HH:MM; empty = now."), required=False,
        input_formats=["%Y-%m-%d %H:%M", "%Y-%m-%dT%H:%M", "%Y-%m-%d %H:%M:%S"],
    )
    outcome = forms.ChoiceField(choices=ContactAttempt.Outcome.choices, label=_("Outcome"))
    note = forms.CharField(max_length=1000, required=False, widget=forms.Textarea(attrs={"rows": 2, "cols": 50}), label=_("Note"))
    discloses_debt = forms.BooleanField(required=False, label=_("The debt was mentioned to a third party"))
    promise_amount = _amount(required=False, label=_("Promised amount (¥)"))
    promise_date = forms.DateField(required=False, label=_("Promised date"), help_text=_("YYYY-MM-DD"))

    def __init__(self, *args, case=None, **kwargs):
        super().__init__(*args, **kwargs)
        if case is not None:
            self.fields["third_party"].queryset = ThirdParty.objects.filter(customer_id=case.customer_id, refused_at=None)

    def clean_occurred_at(self):
        value = self.cleaned_data.get("occurred_at")
        if value is None:
            return None
        if timezone.is_naive(value):
            value = value.replace(tzinfo=COLLECTIONS_TZ)
        return value

    def service_kwargs(self) -> dict:
        data = self.cleaned_data
        kwargs = {
            "channel": data["channel"], "direction": data["direction"], "party": data["party"],
            "third_party": data.get("third_party"), "outcome": data["outcome"], "note": data.get("note") or "",
            "discloses_debt": bool(data.get("discloses_debt")),
        }
        if data.get("occurred_at"):
            kwargs["occurred_at"] = data["occurred_at"]
        if data["outcome"] == ContactAttempt.Outcome.PROMISE_TO_PAY:
            kwargs["promise_amount"] = data.get("promise_amount")
            kwargs["promise_date"] = data.get("promise_date")
        return kwargs


class PromiseForm(forms.Form):
    amount = _amount(label=_("Amount (¥)"))
    promised_on = forms.DateField(label=_("By (date)"), help_text=_("YYYY-MM-DD"))

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["promised_on"].initial = get_business_date() + dt.timedelta(days=3)


class ReasonForm(forms.Form):
    reason = forms.CharField(max_length=500, widget=forms.Textarea(attrs={"rows": 2, "cols": 50}), label=_("Reason"))


class ThirdPartyForm(forms.Form):
    name = forms.CharField(max_length=100, label=_("Name"))
    relation = forms.CharField(max_length=60, label=_("Relation"))
    mobile = forms.CharField(max_length=20, label=_("Mobile"))


class AssignForm(forms.Form):
    collector = forms.ModelChoiceField(queryset=Collector.objects.filter(is_active=True).select_related("user"),
                                       required=False, label=_("Collector"))
    agency = forms.ModelChoiceField(queryset=Agency.objects.all(), required=False, label=_("Agency"))
    reason = forms.CharField(max_length=500, required=False, label=_("Reason"))

    def clean(self):
        data = super().clean()
        if bool(data.get("collector")) == bool(data.get("agency")):
            raise forms.ValidationError("Choose a collector or an agency.")
        return data


class AgencyEvaluationForm(forms.Form):
    evaluated_on = forms.DateField(help_text=_("YYYY-MM-DD"), label=_("Evaluated on"))
    note = forms.CharField(max_length=500, widget=forms.Textarea(attrs={"rows": 2, "cols": 50}), label=_("Note"))


class PerformanceForm(forms.Form):
    start = forms.DateField(help_text=_("YYYY-MM-DD"), label=_("Start"))
    end = forms.DateField(help_text=_("YYYY-MM-DD"), label=_("End"))

    def clean(self):
        data = super().clean()
        if data.get("start") and data.get("end") and data["end"] < data["start"]:
            raise forms.ValidationError("The end comes before the start.")
        if data.get("start") and data.get("end") and (data["end"] - data["start"]).days > 366:
            raise forms.ValidationError("At most one year at a time.")
        return data


class TemplateBodyForm(forms.ModelForm):
    """A form whose ``body`` is a message template: refused unless it compiles (call scripts, reminders)."""

    def clean_body(self):
        from core.errors import ApplicationError
        from debt_collection.services import template_compile

        body = self.cleaned_data["body"]
        try:
            template_compile(body)
        except ApplicationError as exc:
            raise forms.ValidationError(exc.message) from None
        return body


class CallScriptForm(TemplateBodyForm):
    class Meta:
        model = CallScript
        fields = ("bucket", "language", "title", "body", "is_active")


class ReminderTemplateForm(TemplateBodyForm):
    class Meta:
        model = ReminderTemplate
        fields = ("kind", "channel", "subject", "body", "is_active")

    def clean_subject(self):
        from debt_collection.services import template_compile
        from core.errors import ApplicationError

        subject = self.cleaned_data.get("subject") or ""
        try:
            template_compile(subject)
        except ApplicationError as exc:
            raise forms.ValidationError(exc.message) from None
        return subject


class CallOutcomeForm(forms.Form):
    """The call's outcome in one step (voice, outbound, the debtor, now): the outcome, a note, a promise
    (amount and date, with the outcome "promise to pay") and a call-back time — one ``contact_log``."""

    outcome = forms.ChoiceField(choices=ContactAttempt.Outcome.choices, label=_("Outcome"))
    note = forms.CharField(max_length=1000, required=False, widget=forms.Textarea(attrs={"rows": 2, "cols": 50}),
                           label=_("Note"))
    promise_amount = _amount(required=False, label=_("Promised amount (¥)"))
    promise_date = forms.DateField(required=False, label=_("Promised date"), help_text=_("YYYY-MM-DD"))
    callback_at = forms.DateTimeField(
        required=False, label=_("Call back at (Asia/Shanghai)"), help_text=_("YYYY-MM-DD HH:MM; empty = no call-back."),
        input_formats=["%Y-%m-%d %H:%M", "%Y-%m-%dT%H:%M", "%Y-%m-%d %H:%M:%S"],
        widget=forms.DateTimeInput(attrs={"type": "datetime-local"}, format="%Y-%m-%dT%H:%M"),
    )

    def clean_callback_at(self):
        value = self.cleaned_data.get("callback_at")
        if value is not None and timezone.is_naive(value):
            value = value.replace(tzinfo=COLLECTIONS_TZ)
        return value

    def clean(self):
        data = super().clean()
        promise = data.get("promise_amount") is not None or data.get("promise_date") is not None
        if data.get("outcome") == ContactAttempt.Outcome.PROMISE_TO_PAY:
            if data.get("promise_amount") is None or data.get("promise_date") is None:
                raise forms.ValidationError(_("A promise to pay needs an amount and a date."))
        elif promise:
            raise forms.ValidationError(_("An amount and a date go with the outcome “Promise to pay” only."))
        return data

    def service_kwargs(self) -> dict:
        data = self.cleaned_data
        kwargs = {"channel": Channel.VOICE, "direction": ContactAttempt.Direction.OUTBOUND,
                  "party": ContactAttempt.Party.DEBTOR, "outcome": data["outcome"], "note": data.get("note") or "",
                  "callback_at": data.get("callback_at")}
        if data["outcome"] == ContactAttempt.Outcome.PROMISE_TO_PAY:
            kwargs["promise_amount"] = data["promise_amount"]
            kwargs["promise_date"] = data["promise_date"]
        return kwargs


class DayCollectorForm(forms.Form):
    """Managers: whose day to show."""

    collector = forms.ModelChoiceField(queryset=Collector.objects.select_related("user"), required=False,
                                       label=_("Collector"))

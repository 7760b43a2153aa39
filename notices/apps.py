from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class NoticesConfig(AppConfig):
    """Customer notices: what customers are told about their line, bills, plans and credit reporting
    (PRODUCT §3, §6). It sits above collections (it sends through the reminder gateway) and plugs its
    step into close of business; nothing below imports it."""

    name = "notices"
    verbose_name = _("Customer notices")
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from cob.registry import register_step
        from privacy.registry import Provider, RecordSet, register

        from notices.services import notices_queue

        # Last slot of the day: the limit reviews' changes of today are in (a re-run then finds nothing new).
        register_step("notices.queue", notices_queue, slot="bureau_file", chunked=False)
        from installments.hooks import register_replay_morning

        register_replay_morning("notices.send_due", notices_replay_morning)
        register(Provider(
            key="notices",
            label="Customer notices",
            records=(RecordSet("customer_notices", "notices.Notice", customer_path="customer",
                               description="Notices sent about the customer's line, bills, plans and reporting."),),
            erases=("notices.notice.recipient",),
            anonymise=notices_anonymise,
        ))


def notices_anonymise(customer, *, retained: bool) -> int:
    """The address a notice went to is contact data no law keeps; what was said stays (a record of
    having informed the customer)."""
    from notices.models import Notice

    return Notice.objects.filter(customer=customer).exclude(recipient="").update(recipient="")


def notices_replay_morning(morning) -> None:
    """Customer notices (the credit-bureau pre-notice among them) go out from 08:00 after the close that
    queued them, sent by a beat task on the wall clock; the demo replays its history faster than any beat,
    so it delivers them itself each replayed morning — without it every demo notice stayed queued and the
    monthly bureau files withheld every delinquent account (PRODUCT §13). The demo's messages go to
    ``var/demo-outbox/<channel>.jsonl`` (not the console)."""
    import datetime as dt
    from zoneinfo import ZoneInfo

    from django.conf import settings
    from django.test import override_settings

    from notices.services import notices_send_due

    backend = {"BACKEND": "debt_collection.gateway.FileBackend",
               "OPTIONS": {"directory": str(settings.VAR_DIR / "demo-outbox")}}
    with override_settings(REMINDER_GATEWAY_BACKENDS={c: backend for c in ("sms", "email", "in_app")}):
        notices_send_due(now=dt.datetime.combine(morning, dt.time(9), tzinfo=ZoneInfo("Asia/Shanghai")))

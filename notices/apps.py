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

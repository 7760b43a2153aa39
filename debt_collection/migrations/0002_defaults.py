"""Default configuration: the policy row, one queue per bucket and the reminder templates (staff edit them)."""
from django.db import migrations

QUEUES = [
    ("M1", "M1 early (DPD 1–30)", False),
    ("M2", "M2 (DPD 31–60)", False),
    ("M3", "M3 (DPD 61–90)", False),
    ("M4", "M4 late (DPD 91–120)", True),
    ("M5", "M5 late (DPD 121–150)", True),
    ("M6", "M6 pre-write-off (DPD 151–180)", True),
]

BEFORE = ("【白条】尊敬的{{ customer_name }}，您的账单（账户 {{ account }}）应还 ¥{{ amount_due }}"
          "{% if minimum_payment %}，最低还款 ¥{{ minimum_payment }}{% endif %}，"
          "还款日 {{ due_date|date:'Y-m-d' }}{% if days %}（还有 {{ days }} 天）{% else %}（今天）{% endif %}。按时全额还款免息。")
OVERDUE = ("【白条】尊敬的{{ customer_name }}，您的账单（账户 {{ account }}）已过还款日 {{ days }} 天，请尽快还款 "
           "¥{{ minimum_payment }}（全部应还 ¥{{ amount_due }}），以免产生违约金及影响征信。")
SUBJECT_BEFORE = "白条账单还款提醒：还款日 {{ due_date|date:'Y-m-d' }}"
SUBJECT_OVERDUE = "白条账单逾期提醒：已逾期 {{ days }} 天"
KINDS_BEFORE = ("T-3", "T-1", "T0", "before")
KINDS_AFTER = ("D+1", "D+3", "D+7", "overdue")


def forwards(apps, schema_editor):
    Policy = apps.get_model("collections", "CollectionPolicy")
    Queue = apps.get_model("collections", "Queue")
    Template = apps.get_model("collections", "ReminderTemplate")
    Policy.objects.get_or_create(singleton=1)
    for bucket, name, agencies in QUEUES:
        Queue.objects.get_or_create(bucket=bucket, defaults={"name": name, "use_agencies": agencies})
    for kinds, body, subject in ((KINDS_BEFORE, BEFORE, SUBJECT_BEFORE), (KINDS_AFTER, OVERDUE, SUBJECT_OVERDUE)):
        for kind in kinds:
            for channel in ("sms", "email", "in_app"):
                Template.objects.get_or_create(
                    kind=kind, channel=channel,
                    defaults={"subject": "" if channel == "sms" else subject, "body": body, "is_active": True},
                )


class Migration(migrations.Migration):
    dependencies = [("collections", "0001_initial")]
    operations = [migrations.RunPython(forwards, migrations.RunPython.noop)]

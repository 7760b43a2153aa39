"""The collector's desk: call-backs on the contact log, and call scripts per bucket (seeded in Chinese and
English; collections managers edit them)."""

from django.conf import settings
from django.db import migrations, models


# --- Default call scripts (collections managers edit them in the admin) ---------------------------

SCRIPTS = {
    ("M1", "zh-hans"): (
        "M1 早期提醒",
        "您好，请问是{{ customer_name }}本人吗？我是白条客服{{ collector_name }}。"
        "您的白条账单已于 {{ due_date }} 到期，目前逾期 {{ dpd }} 天，逾期金额 {{ amount_overdue }}。"
        "可能是忘记了还款，方便今天处理吗？您可以在白条页面或我们短信发送的还款链接还款。"
        "如果今天不方便，请告诉我您能还款的日期和金额，我为您记录。",
    ),
    ("M1", "en"): (
        "M1 early reminder",
        "Hello, am I speaking with {{ customer_name }}? This is {{ collector_name }} from Baitiao customer service. "
        "Your Baitiao bill was due on {{ due_date }}; it is {{ dpd }} days overdue and {{ amount_overdue }} is past due. "
        "It may have slipped your mind: could you pay today? You can pay in the app or through the payment link "
        "we can send you by SMS. If today does not suit you, tell me the date and the amount you can pay and "
        "I will record it.",
    ),
    ("M2", "zh-hans"): (
        "M2 跟进",
        "您好，请问是{{ customer_name }}本人吗？我是白条客服{{ collector_name }}。"
        "您的账单自 {{ due_date }} 起已逾期 {{ dpd }} 天，逾期金额 {{ amount_overdue }}，每天都在产生违约金。"
        "请问遇到了什么困难？我们可以一起确定一个还款计划：您今天能还多少、哪天还清？"
        "约定的还款请务必按时履行。",
    ),
    ("M2", "en"): (
        "M2 follow-up",
        "Hello, am I speaking with {{ customer_name }}? This is {{ collector_name }} from Baitiao customer service. "
        "Your bill has been overdue since {{ due_date }} ({{ dpd }} days); {{ amount_overdue }} is past due and a "
        "late fee accrues every day. What is making payment difficult? Let us agree a plan together: how much can "
        "you pay today, and by which date can you pay the rest? Please keep to the date we agree.",
    ),
    ("M3", "zh-hans"): (
        "M3+ 严重逾期",
        "您好，请问是{{ customer_name }}本人吗？我是白条客服{{ collector_name }}。"
        "您的账单自 {{ due_date }} 起已逾期 {{ dpd }} 天，逾期金额 {{ amount_overdue }}。"
        "逾期记录会按规定报送征信，继续逾期可能影响您的信用。"
        "请您尽快还款；如确有困难，请说明情况，我们可以协商分期或约定还款日期。"
        "（请勿向第三方透露欠款信息，全程保持礼貌。）",
    ),
    ("M3", "en"): (
        "M3+ seriously overdue",
        "Hello, am I speaking with {{ customer_name }}? This is {{ collector_name }} from Baitiao customer service. "
        "Your bill has been overdue since {{ due_date }} ({{ dpd }} days); {{ amount_overdue }} is past due. "
        "Overdue records are reported to the credit bureau as the rules require, and further delay may harm your "
        "credit. Please pay as soon as you can; if you are in difficulty, tell me and we can agree installments or "
        "a payment date. (Never tell a third party about the debt; stay polite throughout.)",
    ),
}


def scripts_forwards(apps, schema_editor):
    CallScript = apps.get_model("collections", "CallScript")
    for (bucket, language), (title, body) in SCRIPTS.items():
        CallScript.objects.get_or_create(bucket=bucket, language=language, defaults={"title": title, "body": body})


class Migration(migrations.Migration):

    dependencies = [
        ('accounts', '0005_seams_holds'),
        ('collections', '0004_history'),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.CreateModel(
            name='CallScript',
            fields=[
                ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                ('bucket', models.CharField(choices=[('M1', 'M1 (DPD 1–30)'), ('M2', 'M2 (DPD 31–60)'), ('M3', 'M3 (DPD 61–90)'), ('M4', 'M4 (DPD 91–120)'), ('M5', 'M5 (DPD 121–150)'), ('M6', 'M6 (DPD 151–180)')], help_text='Used for this bucket and the later ones that have no script of their own.', max_length=2)),
                ('language', models.CharField(choices=[('zh-hans', 'Simplified Chinese'), ('en', 'English')], max_length=8)),
                ('title', models.CharField(max_length=120)),
                ('body', models.TextField(help_text='Placeholders: {{ customer_name }}, {{ amount_overdue }}, {{ due_date }}, {{ dpd }}, {{ bucket }}, {{ collector_name }}.')),
                ('is_active', models.BooleanField(default=True)),
                ('updated_at', models.DateTimeField(auto_now=True)),
            ],
            options={
                'verbose_name': 'call script',
                'verbose_name_plural': 'call scripts',
                'ordering': ['bucket', 'language'],
            },
        ),
        migrations.AddField(
            model_name='contactattempt',
            name='callback_at',
            field=models.DateTimeField(blank=True, help_text="A call-back agreed with the debtor (Asia/Shanghai); on the collector's day list.", null=True),
        ),
        migrations.AddConstraint(
            model_name='contactattempt',
            constraint=models.CheckConstraint(condition=models.Q(('callback_at__isnull', True), ('callback_at__gt', models.F('occurred_at')), _connector='OR'), name='contact_callback_after_contact'),
        ),
        migrations.AddConstraint(
            model_name='callscript',
            constraint=models.UniqueConstraint(fields=('bucket', 'language'), name='one_call_script_per_bucket_language'),
        ),
        migrations.RunPython(scripts_forwards, migrations.RunPython.noop),
    ]

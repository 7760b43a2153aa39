from django.db import migrations, models

CHART = [
    ("1140", "Customer receivable: insurance premiums", "asset", True),
    ("1300", "Insurer: claims receivable", "asset", False),
    ("2300", "Insurance premiums payable to the insurer", "liability", False),
]


def create_accounts(apps, schema_editor):
    LedgerAccount = apps.get_model("ledger", "LedgerAccount")
    for code, name, type_, receivable in CHART:
        LedgerAccount.objects.update_or_create(
            code=code, defaults={"name": name, "type": type_, "is_customer_receivable": receivable}
        )


class Migration(migrations.Migration):
    dependencies = [("ledger", "0002_chart")]
    operations = [
        migrations.RunPython(create_accounts, migrations.RunPython.noop),
        migrations.AlterField(
            model_name='journalentry',
            name='kind',
            field=models.CharField(choices=[('purchase', 'Purchase'), ('fee_billed', 'Installment fee billed'), ('late_fee', 'Late fee accrued'), ('deferral_fee', 'Deferral fee accrued'), ('repayment', 'Repayment'), ('settlement', 'Early settlement'), ('credit_applied', 'Credit balance applied'), ('refund', 'Refund'), ('waiver', 'Fee waived'), ('write_off', 'Write-off'), ('recovery', 'Recovery'), ('reversal', 'Reversal'), ('premium_billed', 'Insurance premium billed'), ('insurance_claim', 'Insurance claim paid'), ('premium_refund', 'Insurance premium refunded')], max_length=20),
        ),
    ]

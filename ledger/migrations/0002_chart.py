from django.db import migrations

CHART = [
    ("1000", "Cash and payment clearing", "asset", False),
    ("1100", "Customer receivable: principal", "asset", True),
    ("1110", "Customer receivable: installment fees", "asset", True),
    ("1120", "Customer receivable: late fees", "asset", True),
    ("1130", "Customer receivable: deferral fees", "asset", True),
    ("2000", "Merchant settlement payable", "liability", False),
    ("2100", "Customer credit balances", "liability", False),
    ("2200", "Refunds payable", "liability", False),
    ("4000", "Installment fee income", "income", False),
    ("4100", "Late fee income", "income", False),
    ("4200", "Deferral fee income", "income", False),
    ("4900", "Recoveries on written-off debt", "income", False),
    ("5000", "Credit losses (write-offs)", "expense", False),
]


def create_chart(apps, schema_editor):
    LedgerAccount = apps.get_model("ledger", "LedgerAccount")
    for code, name, type_, receivable in CHART:
        LedgerAccount.objects.update_or_create(
            code=code, defaults={"name": name, "type": type_, "is_customer_receivable": receivable}
        )


class Migration(migrations.Migration):
    dependencies = [("ledger", "0001_initial")]
    operations = [migrations.RunPython(create_chart, migrations.RunPython.noop)]

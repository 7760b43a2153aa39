from decimal import Decimal

from django.db import migrations


def create_default(apps, schema_editor):
    InsuranceProduct = apps.get_model("insurance", "InsuranceProduct")
    InsuranceProduct.objects.get_or_create(code="CCI-STD", defaults={
        "name": "Consumer-credit insurance (death, disability, unemployment)",
        "insurer": "Demo Property & Casualty Insurance Co.", "premium_rate": Decimal("0.001000"),
        "cooling_off_days": 15, "condition_of_credit": False, "is_active": True,
    })


class Migration(migrations.Migration):
    dependencies = [("insurance", "0001_initial")]
    operations = [migrations.RunPython(create_default, migrations.RunPython.noop)]

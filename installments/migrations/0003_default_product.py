from decimal import Decimal

from django.db import migrations

DEFAULT_RATES = {3: Decimal("0.006"), 6: Decimal("0.006"), 12: Decimal("0.005"), 24: Decimal("0.005")}


def create_default_product(apps, schema_editor):
    """The default product ``baitiao`` with the default terms of PRODUCT §4–§6."""
    CreditProduct = apps.get_model("accounts", "CreditProduct")
    ProductTerms = apps.get_model("installments", "ProductTerms")
    TenorRate = apps.get_model("installments", "TenorRate")
    product, _ = CreditProduct.objects.get_or_create(code="baitiao", defaults={"name": "Baitiao"})
    terms, created = ProductTerms.objects.get_or_create(product=product)
    if created:
        for tenor, rate in DEFAULT_RATES.items():
            TenorRate.objects.get_or_create(terms=terms, tenor=tenor, defaults={"fee_rate": rate})


class Migration(migrations.Migration):
    dependencies = [("installments", "0002_initial"), ("accounts", "0001_initial")]
    operations = [migrations.RunPython(create_default_product, migrations.RunPython.noop)]

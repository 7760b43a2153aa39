from django.db import migrations


def create_default(apps, schema_editor):
    """The default product ``baitiao`` lends cash with the defaults (0.03 %/day, 3/6/12 months,
    500–20,000, 50 % of the line)."""
    CreditProduct = apps.get_model("accounts", "CreditProduct")
    CashLoanProduct = apps.get_model("cashloans", "CashLoanProduct")
    product = CreditProduct.objects.filter(code="baitiao").first()
    if product is not None:
        CashLoanProduct.objects.get_or_create(product=product)


class Migration(migrations.Migration):
    dependencies = [("cashloans", "0001_initial"), ("installments", "0003_default_product")]
    operations = [migrations.RunPython(create_default, migrations.RunPython.noop)]

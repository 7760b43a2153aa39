"""Leave room in each page of the accounts table on PostgreSQL: close of business rewrites dpd,
bucket and used amounts every night, and free space lets PostgreSQL update rows in place (HOT)
instead of moving them and touching every index."""
from django.db import migrations


def set_fillfactor(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute("ALTER TABLE accounts_creditaccount SET (fillfactor = 80)")


def reset_fillfactor(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute("ALTER TABLE accounts_creditaccount RESET (fillfactor)")


class Migration(migrations.Migration):
    dependencies = [("accounts", "0003_account_permissions")]

    operations = [migrations.RunPython(set_fillfactor, reset_fillfactor)]

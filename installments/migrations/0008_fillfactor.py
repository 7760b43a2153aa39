"""PostgreSQL only: leave room on the pages of the tables close of business rewrites every night
(line status/overdue_from, charge statement/overdue_from, statement status), so those updates can stay
HOT (no index maintenance). A no-op on SQLite."""
from django.db import migrations

TABLES = {"installments_scheduleline": 85, "installments_charge": 90, "installments_statement": 90}


def _set(value_of):
    def run(apps, schema_editor):
        if schema_editor.connection.vendor != "postgresql":
            return
        for table, fillfactor in TABLES.items():
            schema_editor.execute(f"ALTER TABLE {table} SET (fillfactor = {value_of(fillfactor)})", params=None)
    return run


class Migration(migrations.Migration):
    dependencies = [("installments", "0007_engine_permissions")]
    operations = [migrations.RunPython(_set(lambda f: f), _set(lambda f: 100))]

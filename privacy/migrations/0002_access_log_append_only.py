"""The personal-data access log is append-only in the database itself: UPDATE is refused on every
backend; DELETE is refused on PostgreSQL (SQLite's test flush deletes rows one statement at a
time, so it keeps DELETE; PostgreSQL's flush is TRUNCATE, which row triggers do not see)."""
from django.db import migrations

SQLITE_UP = [
    "CREATE TRIGGER privacy_piiaccesslog_no_update BEFORE UPDATE ON privacy_piiaccesslog "
    "BEGIN SELECT RAISE(ABORT, 'privacy_piiaccesslog is append-only'); END;",
]
SQLITE_DOWN = ["DROP TRIGGER IF EXISTS privacy_piiaccesslog_no_update;"]

POSTGRES_UP = [
    "CREATE OR REPLACE FUNCTION privacy_append_only() RETURNS trigger LANGUAGE plpgsql AS $$ "
    "BEGIN RAISE EXCEPTION 'privacy_piiaccesslog is append-only'; END; $$;",
    "CREATE TRIGGER privacy_piiaccesslog_append_only BEFORE UPDATE OR DELETE ON privacy_piiaccesslog "
    "FOR EACH ROW EXECUTE FUNCTION privacy_append_only();",
]
POSTGRES_DOWN = [
    "DROP TRIGGER IF EXISTS privacy_piiaccesslog_append_only ON privacy_piiaccesslog;",
    "DROP FUNCTION IF EXISTS privacy_append_only();",
]


def _run(statements_by_vendor):
    def run(apps, schema_editor):
        for sql in statements_by_vendor.get(schema_editor.connection.vendor, []):
            schema_editor.execute(sql)
    return run


class Migration(migrations.Migration):
    dependencies = [("privacy", "0001_initial")]

    operations = [
        migrations.RunPython(
            _run({"sqlite": SQLITE_UP, "postgresql": POSTGRES_UP}),
            _run({"sqlite": SQLITE_DOWN, "postgresql": POSTGRES_DOWN}),
        )
    ]

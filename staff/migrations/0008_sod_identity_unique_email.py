"""One person, one login (issue 23): a staff login's email, where its one-time set-password links go, is
unique whatever the letter case (blank addresses aside: API service users and logins made before have
none). An index on ``auth_user`` kept here, in the app that owns the rule; the admin's forms say the
same thing in words (``staff.admin_security``). Two logins sharing an address must be told apart before
migrating: the index cannot be built over them."""
from django.db import migrations

INDEX = "staff_user_email_ci_unique"


class Migration(migrations.Migration):
    dependencies = [
        ("auth", "0012_alter_user_first_name_max_length"),
        ("staff", "0007_sod_bankfile_four_eyes"),
    ]

    operations = [
        migrations.RunSQL(
            sql=f"CREATE UNIQUE INDEX {INDEX} ON auth_user (LOWER(email)) WHERE email <> ''",
            reverse_sql=f"DROP INDEX {INDEX}",
        ),
    ]

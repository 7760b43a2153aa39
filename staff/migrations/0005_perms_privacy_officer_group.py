"""The privacy officer's role group (issue 12). Its permissions are set by ``staff.roles.roles_sync``
after ``migrate``, like every role's."""
from django.db import migrations

ROLE_NAMES = ("Privacy officer",)


def create_groups(apps, schema_editor):
    Group = apps.get_model("auth", "Group")
    for name in ROLE_NAMES:
        Group.objects.using(schema_editor.connection.alias).get_or_create(name=name)


class Migration(migrations.Migration):
    dependencies = [
        ("staff", "0004_job_screen_names"),
    ]

    operations = [migrations.RunPython(create_groups, migrations.RunPython.noop)]

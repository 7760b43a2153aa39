"""Create the staff role groups. Their permissions are set after every ``migrate`` by
``staff.roles.roles_sync`` (a ``post_migrate`` handler): permissions only exist once every app has
migrated, and apps added later must be included too."""
from django.db import migrations

ROLE_NAMES = (
    "Credit officer", "Finance", "Collector", "Collections manager", "Risk analyst", "Auditor", "Administrator",
)


def create_groups(apps, schema_editor):
    Group = apps.get_model("auth", "Group")
    for name in ROLE_NAMES:
        Group.objects.using(schema_editor.connection.alias).get_or_create(name=name)


class Migration(migrations.Migration):
    dependencies = [
        ("staff", "0001_initial"),
        ("auth", "0012_alter_user_first_name_max_length"),
    ]

    operations = [migrations.RunPython(create_groups, migrations.RunPython.noop)]

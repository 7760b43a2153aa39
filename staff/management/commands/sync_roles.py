"""``manage.py sync_roles [--matrix]``: create the role groups and set their permissions from
``staff/roles.py`` (also done after every ``migrate``)."""
from django.core.management.base import BaseCommand

from staff.roles import permission_matrix, roles_sync


class Command(BaseCommand):
    help = "Create the staff role groups and set their permissions (least privilege)."

    def add_arguments(self, parser):
        parser.add_argument("--matrix", action="store_true", help="Print the permission matrix (Markdown) instead.")

    def handle(self, *args, matrix: bool, **options):
        if matrix:
            self.stdout.write(permission_matrix())
            return
        for name, (added, removed) in roles_sync().items():
            self.stdout.write(f"{name}: +{added} −{removed}")
        self.stdout.write(self.style.SUCCESS("Roles in sync."))

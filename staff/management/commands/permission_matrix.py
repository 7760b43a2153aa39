"""Render the permission matrix (``staff/permission_matrix.toml``) as the Markdown table of
``staff/PERMISSIONS.md``: print it, ``--write`` it between the file's markers, or ``--check`` that the
committed table is the rendering (exit status 1 when it is not)."""
from __future__ import annotations

from django.core.management.base import BaseCommand, CommandError

from staff.permission_matrix import committed_table, matrix_render, matrix_write


class Command(BaseCommand):
    help = "Render staff/permission_matrix.toml into the table of staff/PERMISSIONS.md (--write) or check it (--check)."

    def add_arguments(self, parser):
        group = parser.add_mutually_exclusive_group()
        group.add_argument("--write", action="store_true", help="Write the table into staff/PERMISSIONS.md.")
        group.add_argument("--check", action="store_true", help="Fail when staff/PERMISSIONS.md is not up to date.")

    def handle(self, *args, write=False, check=False, **options):
        if write:
            changed = matrix_write()
            self.stdout.write("staff/PERMISSIONS.md " + ("updated" if changed else "already up to date"))
        elif check:
            if committed_table() != matrix_render():
                raise CommandError("staff/PERMISSIONS.md is not the rendering of staff/permission_matrix.toml: "
                                   "run `python manage.py permission_matrix --write`.")
            self.stdout.write("staff/PERMISSIONS.md is up to date")
        else:
            self.stdout.write(matrix_render())

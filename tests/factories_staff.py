"""Helpers for the staff tests: users in a role, import files in CSV and XLSX."""
from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Sequence

from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.core.files.uploadedfile import SimpleUploadedFile

PASSWORD = "x-Very-long-pass-1"


def role_user(role_name: str, username: str | None = None, *, password: str | None = None, **extra):
    """A staff user whose only permissions come from the role group ``role_name``. Without
    ``password`` the user has none (tests log in with ``force_login``; hashing is slow)."""
    user = get_user_model().objects.create_user(
        username=username or role_name.lower().replace(" ", "_"), password=password, is_staff=True, **extra
    )
    group = Group.objects.filter(name=role_name).first()
    if group is None:  # a transactional test's restore may not have brought the role groups back
        from staff.roles import roles_sync

        roles_sync()
        group = Group.objects.get(name=role_name)
    user.groups.add(group)
    return user


def csv_bytes(header: Sequence[str], rows: Iterable[Sequence]) -> bytes:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(header)
    for row in rows:
        writer.writerow(row)
    return buffer.getvalue().encode("utf-8")


def xlsx_bytes(header: Sequence[str], rows: Iterable[Sequence]) -> bytes:
    from openpyxl import Workbook

    book = Workbook()
    sheet = book.active
    sheet.append(list(header))
    for row in rows:
        sheet.append(list(row))
    for line in sheet.iter_rows(min_row=2):
        for cell in line:  # a text cell that starts with "=" stays text (openpyxl would make it a formula)
            if isinstance(cell.value, str) and cell.value.startswith("="):
                cell.data_type = "s"
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


def upload(name: str, content: bytes) -> SimpleUploadedFile:
    kind = "text/csv" if name.endswith(".csv") else "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
    return SimpleUploadedFile(name, content, content_type=kind)


def format_index(name: str) -> str:
    """The import form's format choice: 0 = CSV, 1 = XLSX (staff.admin_mixins.FORMATS)."""
    return "1" if name.endswith(".xlsx") else "0"

"""Spreadsheets staff download: exports written with openpyxl (a named sheet, a bold frozen header,
money as numbers with a ``#,##0.00`` format, dates as dates) and the import templates (the header line
and an example line of each import, CSV or XLSX)."""
from __future__ import annotations

import csv
import datetime as dt
import io
import re
from decimal import Decimal

from django.utils import timezone

from core.money import MONEY_DECIMAL_PLACES

MONEY_FORMAT = "#,##0.00"
DATE_FORMAT = "yyyy-mm-dd"
DATETIME_FORMAT = "yyyy-mm-dd hh:mm"
XLSX_TYPE = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
CSV_TYPE = "text/csv; charset=utf-8"
_SHEET_FORBIDDEN = re.compile(r"[\[\]:*?/\\]")


def sheet_name(title) -> str:
    """A valid worksheet name: at most 31 characters, none of ``[]:*?/\\``."""
    text = _SHEET_FORBIDDEN.sub(" ", str(title or "Export")).strip()
    return (text[:1].upper() + text[1:])[:31] or "Export"


def _cell(sheet, row: int, column: int, value):
    if isinstance(value, dt.datetime):
        if timezone.is_aware(value):
            value = timezone.localtime(value).replace(tzinfo=None)
        cell = sheet.cell(row=row, column=column, value=value)
        cell.number_format = DATETIME_FORMAT
        return cell
    cell = sheet.cell(row=row, column=column, value=value)
    if isinstance(value, Decimal):
        if value.as_tuple().exponent == -MONEY_DECIMAL_PLACES:
            cell.number_format = MONEY_FORMAT
    elif isinstance(value, dt.date):
        cell.number_format = DATE_FORMAT
    elif isinstance(value, str) and value.startswith("="):
        cell.data_type = "s"  # text, never a formula (exports escape these anyway)
    return cell


def xlsx_bytes(headers, rows, *, title) -> bytes:
    from openpyxl import Workbook
    from openpyxl.styles import Font
    from openpyxl.utils import get_column_letter

    book = Workbook()
    sheet = book.active
    sheet.title = sheet_name(title)
    widths = [len(str(h)) for h in headers]
    for column, header in enumerate(headers, 1):
        sheet.cell(row=1, column=column, value=str(header)).font = Font(bold=True)
    for r, values in enumerate(rows, 2):
        for column, value in enumerate(values, 1):
            _cell(sheet, r, column, value)
            if column <= len(widths):
                widths[column - 1] = max(widths[column - 1], min(len(str(value)) if value is not None else 0, 40))
    for column, width in enumerate(widths, 1):
        sheet.column_dimensions[get_column_letter(column)].width = width + 3
    sheet.freeze_panes = "A2"
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


def dataset_xlsx(dataset) -> bytes:
    return xlsx_bytes(dataset.headers or [], (list(row) for row in dataset), title=dataset.title)


def template_file(resource_class, fmt: str) -> tuple[bytes, str]:
    """The import's header line and one example line (``resource_class.example``)."""
    headers = [c.name for c in resource_class.columns]
    example = [resource_class.example.get(name, "") for name in headers]
    if fmt == "xlsx":
        row = [Decimal(v) if name == resource_class.amount_field and v else v for name, v in zip(headers, example)]
        return xlsx_bytes(headers, [row], title=resource_class.get_display_name()), XLSX_TYPE
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    writer.writerow(headers)
    writer.writerow(example)
    return ("\ufeff" + buffer.getvalue()).encode("utf-8"), CSV_TYPE

"""Imports whose rows call services (django-import-export 4 underneath).

A :class:`ServiceResource` parses each row with strict cell parsers (amounts exact to the cent,
ISO dates, no spreadsheet formulas) and hands it to the owning app's service — the same function the
API and the admin actions call — inside a savepoint. django-import-export runs the whole file in one
transaction: the dry run is the real thing rolled back, and the real import is rolled back as a whole
when any row fails (``rollback_on_validation_errors``), so a file is either imported entirely or not
at all.

Line numbers are the spreadsheet's: the header is line 1, the first data row line 2.

This module depends on ``core`` and ``import_export`` only; the resources live with the screens that
use them (``staff/resources.py``).
"""
from __future__ import annotations

import datetime as dt
import logging
import re
import time
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from typing import Any, ClassVar
from collections.abc import Callable

from django.core.exceptions import NON_FIELD_ERRORS
from django.core.exceptions import ValidationError as DjangoValidationError
from django.db import DEFAULT_DB_ALIAS, connections, transaction
from import_export import resources
from import_export.instance_loaders import BaseInstanceLoader
from import_export.results import Result, RowResult

from core.errors import ApplicationError
from core.exports import FORMULA_PREFIXES
from core.money import MONEY_DECIMAL_PLACES, MONEY_MAX_DIGITS, format_cny

logger = logging.getLogger(__name__)

MAX_ERRORS_KEPT = 1000
PREVIEW_ROWS = 200


class CellError(Exception):
    def __init__(self, column: str, message: str):
        super().__init__(message)
        self.column = column
        self.message = message


class FileError(Exception):
    """The file as a whole cannot be imported (wrong or missing columns, empty file)."""


def _is_blank(value: Any) -> bool:
    return value is None or (isinstance(value, str) and not value.strip())


def _refuse_formula(column: str, value: str) -> None:
    if value[:1] in FORMULA_PREFIXES:
        raise CellError(column, f"Starts with {value[:1]!r}: spreadsheet formulas are refused.")


def cell_text(row: dict, column: str, *, required: bool = True, max_length: int = 200, pattern: str | None = None,
              pattern_help: str = "") -> str:
    value = row.get(column)
    if _is_blank(value):
        if required:
            raise CellError(column, "Required.")
        return ""
    if isinstance(value, float) and value.is_integer():  # a spreadsheet's number in a text column
        value = int(value)
    text = str(value)
    _refuse_formula(column, text)
    text = text.strip()
    if len(text) > max_length:
        raise CellError(column, f"At most {max_length} characters.")
    if pattern and not re.fullmatch(pattern, text):
        raise CellError(column, pattern_help or "Not in the expected format.")
    return text


_AMOUNT_RE = re.compile(r"^\d{1,%d}(\.\d{1,%d})?$" % (MONEY_MAX_DIGITS - MONEY_DECIMAL_PLACES, MONEY_DECIMAL_PLACES))


def cell_amount(row: dict, column: str, *, required: bool = True, allow_zero: bool = False) -> Decimal | None:
    """A CNY amount: digits with at most two decimals (``1234.5``, ``1,234.50`` and ``¥1234.50``
    accepted); no sign, no formula, no float rounding."""
    value = row.get(column)
    if _is_blank(value):
        if required:
            raise CellError(column, "Required.")
        return None
    if isinstance(value, bool):
        raise CellError(column, "Not an amount.")
    if isinstance(value, float):  # XLSX numbers arrive as floats: their shortest repr is what was typed
        value = repr(value)
    text = str(value).strip()
    if text[:1] in FORMULA_PREFIXES and text[:1] != "-":  # a minus is refused below, as a negative amount
        raise CellError(column, f"Starts with {text[:1]!r}: spreadsheet formulas are refused.")
    if text.startswith("-"):
        raise CellError(column, f"Must be more than zero (got {text[:20]}).")
    cleaned = text.replace(",", "").removeprefix("¥").removeprefix("CNY").strip()
    if cleaned.endswith(".0") and _AMOUNT_RE.match(cleaned[:-2]):  # 500.0 from a spreadsheet
        cleaned = cleaned[:-2]
    if not _AMOUNT_RE.match(cleaned):
        raise CellError(column, f"Not an amount with at most two decimals: {text[:20]!r}.")
    try:
        amount = Decimal(cleaned)
    except InvalidOperation:  # pragma: no cover - the pattern already refused it
        raise CellError(column, f"Not an amount: {text[:20]!r}.") from None
    if amount == 0 and not allow_zero:
        raise CellError(column, "Must be more than zero.")
    return amount.quantize(Decimal("0.01"))


def cell_date(row: dict, column: str, *, required: bool = True) -> dt.date | None:
    """``YYYY-MM-DD`` (or ``YYYY/MM/DD``, ``YYYYMMDD``); a spreadsheet date cell as it is."""
    value = row.get(column)
    if _is_blank(value):
        if required:
            raise CellError(column, "Required.")
        return None
    if isinstance(value, dt.datetime):
        if value.time() != dt.time(0):
            raise CellError(column, "A date without a time of day is expected.")
        return value.date()
    if isinstance(value, dt.date):
        return value
    text = str(value).strip()
    _refuse_formula(column, text)
    for fmt in ("%Y-%m-%d", "%Y/%m/%d", "%Y%m%d"):
        try:
            return dt.datetime.strptime(text, fmt).date()
        except ValueError:
            continue
    raise CellError(column, f"Not a date (YYYY-MM-DD): {text[:20]!r}.")


def cell_int(row: dict, column: str, *, required: bool = True, minimum: int | None = None,
             maximum: int | None = None) -> int | None:
    value = row.get(column)
    if _is_blank(value):
        if required:
            raise CellError(column, "Required.")
        return None
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    text = str(value).strip()
    _refuse_formula(column, text)
    if not re.fullmatch(r"\d+", text):
        raise CellError(column, f"Not a whole number: {text[:20]!r}.")
    number = int(text)
    if (minimum is not None and number < minimum) or (maximum is not None and number > maximum):
        raise CellError(column, f"Must be between {minimum} and {maximum}.")
    return number


# --- Resources -----------------------------------------------------------------------------


@dataclass(frozen=True)
class Column:
    name: str
    help: str
    required: bool = True
    aliases: tuple[str, ...] = ()
    personal: bool = False  # masked when shown back (errors, previews)
    mask: Callable[[str], str] | None = None


def _mask_generic(text: str) -> str:
    return text[:1] + "***" if text else ""


@dataclass
class Outcome:
    """What a row did (or, in a dry run, would do)."""

    import_type: str  # RowResult.IMPORT_TYPE_NEW / UPDATE / SKIP
    cells: list[str]  # preview cells, in ``preview_headers`` order
    obj: Any = None
    note: str = ""


class _VisibleColumn:
    def __init__(self, column: Column):
        self.column_name = column.name
        self.help = column.help
        self.required = column.required


def normalise_header(header: Any) -> str:
    text = str(header or "").strip().lower().lstrip("\ufeff")
    return re.sub(r"[\s\-/]+", "_", text)


class ServiceResource(resources.Resource):
    """Base class: subclasses declare ``key``, ``title``, ``columns``, ``preview_headers`` and
    implement :meth:`parse` (cells → values, raising :class:`CellError`) and :meth:`apply`
    (values → service call → :class:`Outcome`, raising ``ApplicationError`` to refuse)."""

    key: ClassVar[str] = ""
    title: ClassVar[str] = ""
    #: The permission that may run this import (also checked when a background job is confirmed).
    permission: ClassVar[str] = ""
    #: A line that calls several services runs them in one savepoint, so a refused line leaves nothing.
    atomic_rows: ClassVar[bool] = False
    columns: ClassVar[tuple[Column, ...]] = ()
    preview_headers: ClassVar[tuple[str, ...]] = ()
    summary_labels: ClassVar[dict[str, str]] = {}
    summary_if_any: ClassVar[frozenset[str]] = frozenset({"pending"})  # shown only when not zero
    #: The parsed value the import register totals for the file ("" for an import without money).
    amount_field: ClassVar[str] = ""
    #: One example line for the downloadable template: column name → cell text.
    example: ClassVar[dict[str, str]] = {}
    #: PRODUCT §12: the file as a whole waits for a second person (not the uploader) who confirms its
    #: control total (lines and sum) against the bank statement; only then do its lines post.
    second_person_confirms: ClassVar[bool] = False

    class Meta:
        use_transactions = True
        skip_diff = True
        report_skipped = True
        instance_loader_class = BaseInstanceLoader

    def __init__(self, *, user=None, file_name: str = "", progress: Callable[[int, int], None] | None = None, **kwargs):
        super().__init__(**kwargs)
        self.user = user
        self.file_name = file_name
        self.progress = progress
        self.file_error: str | None = None
        self.summary: dict[str, Any] = {}
        self.total_rows = 0

    # --- the form's column list
    def get_user_visible_fields(self):
        return [_VisibleColumn(c) for c in self.columns]

    def get_diff_headers(self):
        return list(self.preview_headers)

    @classmethod
    def get_display_name(cls):
        return cls.title or cls.__name__

    # --- the file
    def before_import(self, dataset, **kwargs):
        self.total_rows = len(dataset)
        self.user = kwargs.get("user", self.user)
        self.file_name = kwargs.get("file_name", self.file_name) or self.file_name
        try:
            dataset.headers = self.check_headers(dataset.headers or [])
            self._headers = list(dataset.headers)
            if not len(dataset):
                raise FileError("The file has a header but no rows.")
        except FileError as exc:
            self.file_error = str(exc)
            raise
        self.prepare(dataset)
        self._parse_all(dataset)

    _BLANK = object()

    def _parse_all(self, dataset) -> None:
        """Parse every line before any service runs: a file with bad cells is refused at once, with
        all its problems, and without posting (and rolling back) thousands of good lines first."""
        self.parsed: dict[int, object] = {}
        self.parse_failed = False
        self._dataset = dataset
        for number, data_row in enumerate(dataset, 1):
            row = dict(zip(self._headers, data_row))
            if all(_is_blank(v) for v in row.values()):
                self.parsed[number] = self._BLANK
                continue
            try:
                self.parsed[number] = self.parse(row, number + 1)
            except CellError as exc:
                self.parsed[number] = DjangoValidationError({exc.column: [exc.message]})
            except _CellErrors as exc:
                self.parsed[number] = DjangoValidationError(exc.errors)
            except DjangoValidationError as exc:
                self.parsed[number] = exc
            else:
                continue
            self.parse_failed = True

    def check_headers(self, headers: list) -> list[str]:
        aliases = {normalise_header(a): c.name for c in self.columns for a in (c.name, *c.aliases)}
        mapped = [aliases.get(normalise_header(h), normalise_header(h)) for h in headers]
        known = {c.name for c in self.columns}
        unknown = [str(h) for h, m in zip(headers, mapped) if m not in known and not _is_blank(h)]
        missing = [c.name for c in self.columns if c.required and c.name not in mapped]
        twice = sorted({m for m in mapped if m in known and mapped.count(m) > 1})
        problems = []
        if missing:
            problems.append("missing column(s): " + ", ".join(missing))
        if unknown:
            problems.append("unknown column(s): " + ", ".join(u[:40] for u in unknown))
        if twice:
            problems.append("column(s) given twice: " + ", ".join(twice))
        if problems:
            expected = ", ".join(c.name + ("" if c.required else " (optional)") for c in self.columns)
            raise FileError(f"Wrong columns — {'; '.join(problems)}. Expected: {expected}.")
        return mapped

    def prepare(self, dataset) -> None:
        """Bulk look-ups before the rows (e.g. every account of the file in one query)."""

    # --- one row
    def parse(self, row: dict, line: int) -> dict:
        raise NotImplementedError

    def apply(self, values: dict, *, line: int, dry_run: bool) -> Outcome:
        raise NotImplementedError

    def import_row(self, row, instance_loader, **kwargs):
        line = kwargs["row_number"] + 1
        dry_run = kwargs.get("dry_run", False)
        result = RowResult()
        result.line = line
        if self.file_error:
            result.import_type = RowResult.IMPORT_TYPE_SKIP
            return result
        values = self.parsed.get(kwargs["row_number"], self._BLANK)
        if values is self._BLANK:
            result.import_type = RowResult.IMPORT_TYPE_SKIP
            result.diff = ["(blank line)"] + [""] * (len(self.preview_headers) - 1)
            return result
        try:
            if isinstance(values, DjangoValidationError):
                raise values
            if self.parse_failed:  # another line is bad: nothing is posted, this line is not looked at further
                result.import_type = RowResult.IMPORT_TYPE_SKIP
                return result
            if self.atomic_rows:
                with transaction.atomic():
                    outcome = self.apply(values, line=line, dry_run=dry_run)
            else:  # one service call: its own transaction.atomic is the line's savepoint
                outcome = self.apply(values, line=line, dry_run=dry_run)
            result.import_type = outcome.import_type
            result.diff = outcome.cells
            result.note = outcome.note
            if outcome.obj is not None:
                result.object_id = outcome.obj.pk
                result.object_repr = str(outcome.obj)
                result.instance = outcome.obj
        except DjangoValidationError as exc:
            result.import_type = RowResult.IMPORT_TYPE_INVALID
            result.validation_error = exc
        except ApplicationError as exc:
            result.import_type = RowResult.IMPORT_TYPE_INVALID
            result.validation_error = DjangoValidationError({NON_FIELD_ERRORS: [exc.message]})
        except Exception as exc:  # a bug, not the file: keep the message, log the traceback
            logger.exception("import %s line %s failed", self.key, line)
            result.import_type = RowResult.IMPORT_TYPE_ERROR
            result.errors.append(self.get_error_result_class()(exc, row=row, number=line))
        if self.progress:
            self.progress(kwargs["row_number"], self.total_rows)
        return result

    def add_to_summary(self, key: str, amount: Decimal | int) -> None:
        self.summary[key] = self.summary.get(key, 0) + amount

    def file_total(self) -> Decimal | None:
        """The sum of the file's amounts over the lines that parsed (None for an import without money,
        or a file that could not be read)."""
        if not self.amount_field or not hasattr(self, "parsed"):
            return None
        return sum((v[self.amount_field] for v in self.parsed.values()
                    if isinstance(v, dict) and v.get(self.amount_field) is not None), Decimal("0.00"))

    def file_count(self) -> int | None:
        """The number of the file's lines that carry an amount (the control count; None as for
        :meth:`file_total`)."""
        if not self.amount_field or not hasattr(self, "parsed"):
            return None
        return sum(1 for v in self.parsed.values() if isinstance(v, dict) and v.get(self.amount_field) is not None)

    # --- how a refused row is shown back
    def shown_values(self, row_values: list) -> list[str]:
        """A line as it is shown back: personal data masked, long cells cut."""
        personal = {c.name: c.mask or _mask_generic for c in self.columns if c.personal}
        shown = []
        for name, value in zip(self._headers, row_values):
            text = "" if value is None else str(value)
            shown.append(personal[name](text) if name in personal and text else text[:60])
        return shown

    _headers: list[str] = []
    _dataset = None

    def raw_values(self, number: int) -> list:
        """The cells of data row ``number`` (1-based) as they were in the file."""
        if self._dataset is None or not 1 <= number <= len(self._dataset):
            return []
        return list(self._dataset[number - 1])

    def import_data(self, dataset, *args, **kwargs):
        result = super().import_data(dataset, *args, **kwargs)
        result.resource = self  # the report needs the resource's columns and summary
        return result


class _CellErrors(Exception):
    def __init__(self, errors: dict[str, list[str]]):
        super().__init__("cell errors")
        self.errors = errors


def collect(*parsers: Callable[[], Any]) -> list[Any]:
    """Run each cell parser and report every bad cell of the row at once."""
    values, errors = [], {}
    for parse in parsers:
        try:
            values.append(parse())
        except CellError as exc:
            errors.setdefault(exc.column, []).append(exc.message)
            values.append(None)
    if errors:
        raise _CellErrors(errors)
    return values


# --- What people see ---------------------------------------------------------------------


@dataclass
class RowProblem:
    line: int
    column: str
    message: str
    values: list[str] = field(default_factory=list)


@dataclass
class ImportReport:
    title: str
    total_rows: int
    new: int
    updated: int
    skipped: int
    invalid: int
    errors: list[RowProblem]
    error_count: int
    file_errors: list[str]
    headers: list[str]
    preview: list[tuple[int, str, list[str], str]]  # line, outcome, cells, note
    summary: list[tuple[str, str]]
    columns: list[str]
    total_amount: Decimal | None = None
    total_count: int | None = None

    @property
    def ok(self) -> bool:
        return not self.file_errors and not self.error_count

    def as_json(self) -> dict:
        return {
            "totals": {"new": self.new, "update": self.updated, "skip": self.skipped, "invalid": self.invalid},
            "errors": [p.__dict__ for p in self.errors[:MAX_ERRORS_KEPT]],
            "error_count": self.error_count,
            "file_errors": self.file_errors,
            "summary": self.summary,
            "preview": [list(p) for p in self.preview[:PREVIEW_ROWS]],
            "headers": self.headers,
            "columns": self.columns,
            "total_amount": None if self.total_amount is None else str(self.total_amount),
            "total_count": self.total_count,
        }


OUTCOME_LABELS = {
    RowResult.IMPORT_TYPE_NEW: "new",
    RowResult.IMPORT_TYPE_UPDATE: "update",
    RowResult.IMPORT_TYPE_SKIP: "skip",
}


def report_from_result(result: Result, resource: ServiceResource) -> ImportReport:
    problems: list[RowProblem] = []
    for invalid in result.invalid_rows:
        line = invalid.number + 1
        values = resource.shown_values(resource.raw_values(invalid.number))
        for column, messages in invalid.error_dict.items():
            for message in messages:
                problems.append(RowProblem(line=line, column="" if column == NON_FIELD_ERRORS else column,
                                           message=str(message), values=values))
    for number, errors in result.row_errors():
        for error in errors:
            problems.append(RowProblem(line=number, column="",
                                       message=f"Unexpected error ({type(error.error).__name__}); nothing was saved."))
    problems.sort(key=lambda p: (p.line, p.column))
    file_errors = [str(e.error) for e in result.base_errors]
    preview = []
    for row in result.valid_rows():
        if len(preview) >= PREVIEW_ROWS:
            break
        preview.append((getattr(row, "line", 0), OUTCOME_LABELS.get(row.import_type, row.import_type),
                        list(row.diff or []), getattr(row, "note", "")))
    totals = result.totals
    summary = []
    for key, label in resource.summary_labels.items():
        value = resource.summary.get(key, 0)
        if key in resource.summary_if_any and not value:
            continue
        summary.append((label, format_cny(value) if isinstance(value, Decimal) else f"{value:,}"))
    return ImportReport(
        title=resource.get_display_name(),
        total_rows=result.total_rows,
        new=totals.get(RowResult.IMPORT_TYPE_NEW, 0),
        updated=totals.get(RowResult.IMPORT_TYPE_UPDATE, 0),
        skipped=totals.get(RowResult.IMPORT_TYPE_SKIP, 0),
        invalid=totals.get(RowResult.IMPORT_TYPE_INVALID, 0) + totals.get(RowResult.IMPORT_TYPE_ERROR, 0),
        errors=problems[:MAX_ERRORS_KEPT],
        error_count=len(problems),
        file_errors=file_errors,
        headers=list(resource.preview_headers),
        preview=preview,
        summary=summary,
        columns=[c.name for c in resource.columns],
        total_amount=resource.file_total(),
        total_count=resource.file_count(),
    )


# --- Registry of imports (a job names its import by key) ------------------------------------

_registry: dict[str, type[ServiceResource]] = {}


def register(resource_class: type[ServiceResource]) -> type[ServiceResource]:
    if not resource_class.key:
        raise ValueError("an import resource needs a key")
    _registry[resource_class.key] = resource_class
    return resource_class


def resource_class_for(key: str) -> type[ServiceResource]:
    return _registry[key]


# --- Progress written outside the import's transaction -------------------------------------


class ProgressWriter:
    """Writes ``processed_rows`` of an import job while the import's own transaction is open.

    On PostgreSQL it uses a second connection in autocommit, so the page polling the job sees the
    count move. SQLite allows one writer at a time (the import holds it), so there the count only
    moves between the phases."""

    def __init__(self, job_id: int, *, every_seconds: float = 1.0, table: str = "staff_importjob"):
        self.job_id = job_id
        self.every = every_seconds
        self.table = table
        self.last = 0.0
        self._conn = None
        self.enabled = connections[DEFAULT_DB_ALIAS].vendor == "postgresql"

    def __call__(self, done: int, total: int) -> None:
        if not self.enabled:
            return
        now = time.monotonic()
        if done < total and now - self.last < self.every:
            return
        self.last = now
        try:
            if self._conn is None:
                self._conn = connections.create_connection(DEFAULT_DB_ALIAS)
            with self._conn.cursor() as cursor:
                cursor.execute(
                    f"UPDATE {self.table} SET processed_rows = %s WHERE id = %s AND total_rows >= %s",  # noqa: S608
                    [done, self.job_id, done],
                )
        except Exception:  # progress is a courtesy: never fail an import because of it
            logger.warning("could not write import progress for job %s", self.job_id, exc_info=True)
            self.enabled = False

    def close(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None

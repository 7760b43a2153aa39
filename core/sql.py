"""The one home of the SQL helpers every set-based close-of-business step uses (the engine's daily steps,
collections' ``cases_sync`` and ``reminders_queue``, notices, the bureau): SQL that runs unchanged on
PostgreSQL and SQLite, over one chunk of accounts at a time, the chunk filter of the ORM steps, and the
bulk insert (``COPY`` on PostgreSQL).

A step first puts what it works on in temporary tables (:func:`temp_table`: ``INSERT … SELECT``), then
writes with ``INSERT … SELECT`` / ``UPDATE … FROM`` over them. Identifiers in the SQL are constants of the
code (table and column names); every value goes in as a bound parameter."""
from __future__ import annotations

import datetime as dt
from collections.abc import Sequence

from django.db import connection, models
from django.db.models import Q
from django.utils import timezone

from core.refs import new_reference


def pg() -> bool:
    return connection.vendor == "postgresql"


def execute(sql: str, params: Sequence = ()) -> int:
    with connection.cursor() as cursor:
        cursor.execute(sql, list(params))
        return max(cursor.rowcount, 0)


def scalar(sql: str, params: Sequence = ()):
    """The first column of the first row (``None`` when there is none)."""
    with connection.cursor() as cursor:
        cursor.execute(sql, list(params))
        row = cursor.fetchone()
        return row[0] if row else None


def rows(sql: str, params: Sequence = ()) -> list[tuple]:
    with connection.cursor() as cursor:
        cursor.execute(sql, list(params))
        return cursor.fetchall()


def temp_table(name: str, select_sql: str, params: Sequence = (), *, key: str | None = None) -> None:
    """``name`` := the rows of ``select_sql``, indexed on ``key`` and analysed so the planner knows its size.

    The temporary table is created once per connection (``IF NOT EXISTS``, from the same query with no
    rows) and emptied before each use, never dropped: a dropped relation keeps its lock until the end of
    the transaction, so a long transaction (many days closed in one test) would fill PostgreSQL's lock
    table with one lock per chunk and table."""
    execute(f"CREATE TEMPORARY TABLE IF NOT EXISTS {name} AS SELECT * FROM ({select_sql}) s LIMIT 0", params)
    clear(name)
    execute(f"INSERT INTO {name} {select_sql}", params)
    if key:
        execute(f"CREATE INDEX IF NOT EXISTS {name}_{key.replace(', ', '_')} ON {name} ({key})")
    execute(f"ANALYZE {name}")


def empty_table(name: str, columns: str) -> None:
    """An empty temporary table ``name`` (``columns``: its column definitions), kept for the connection."""
    execute(f"CREATE TEMPORARY TABLE IF NOT EXISTS {name} ({columns})")
    clear(name)


def clear(*names: str) -> None:
    """Empty the temporary tables (kept for the next chunk on this connection)."""
    for name in names:
        execute(f"TRUNCATE {name}" if pg() else f"DELETE FROM {name}")


def scope(column: str, account_ids: Sequence[int] | None, *, table: str) -> tuple[str, list]:
    """SQL condition (``AND …``) limiting ``column`` to the chunk's accounts: a range of ids becomes
    two comparisons; any other list goes into the temporary table ``table`` (a semi-join)."""
    if account_ids is None:
        return "", []
    if is_id_range(account_ids):
        return f" AND {column} >= %s AND {column} < %s", [account_ids.start, account_ids.stop]
    empty_table(table, "id BIGINT PRIMARY KEY")
    ids = sorted({int(i) for i in account_ids})
    for start in range(0, len(ids), 5000):
        batch = ids[start:start + 5000]
        execute(f"INSERT INTO {table} (id) VALUES " + ", ".join(["(%s)"] * len(batch)), batch)
    return f" AND {column} IN (SELECT id FROM {table})", []


def any_of(column: str, values) -> tuple[str, list]:
    """SQL condition ``column`` is one of ``values``: one array parameter on PostgreSQL (``= ANY(%s)``:
    the same short statement whatever the count, no list of thousands of placeholders to build and
    convert), an ``IN`` list elsewhere (empty: false)."""
    values = list(values)
    if pg():
        return f"{column} = ANY(%s)", [values]
    if not values:
        return "1 = 0", []
    return f"{column} IN ({', '.join(['%s'] * len(values))})", values


def flag(condition: str) -> str:
    """A condition as 1/0 (SQLite has no boolean column type)."""
    return f"(CASE WHEN {condition} THEN 1 ELSE 0 END)"


def differs(a: str, b: str) -> str:
    """NULL-safe ``a <> b``."""
    return f"({a} IS DISTINCT FROM {b})" if pg() else f"({a} IS NOT {b})"


def money(expr: str) -> str:
    """An amount rounded to the cent (SQLite sums in binary floats)."""
    return f"ROUND(CAST(({expr}) AS NUMERIC), 2)" if pg() else f"ROUND(({expr}), 2)"


def days(later: str, earlier: str) -> str:
    """Whole days from ``earlier`` to ``later`` (both SQL date expressions)."""
    if pg():
        return f"({later} - {earlier})"
    return f"CAST(julianday({later}) - julianday({earlier}) AS INTEGER)"


def cents(expr: str) -> str:
    """An amount as an integer number of cents (exact on both databases)."""
    return f"CAST(ROUND(({expr}) * 100) AS BIGINT)"


def from_cents(expr: str) -> str:
    return f"(({expr}) / 100.0)" if not pg() else f"CAST(({expr}) AS NUMERIC) / 100"


def positive(expr: str) -> str:
    """``expr > 0`` to the cent (a float residue of 1e-14 is zero)."""
    return f"ROUND(({expr}) * 100) > 0"


def date_literal(value: dt.date) -> str:
    """A date as an SQL literal (safe: formatted from a ``date``, never from input text)."""
    if not isinstance(value, dt.date):  # pragma: no cover
        raise TypeError("a date literal needs a date")
    return f"DATE '{value.isoformat()}'" if pg() else f"'{value.isoformat()}'"


def is_id_range(account_ids) -> bool:
    """A chunk of close of business: a contiguous ``range`` of account pks."""
    return isinstance(account_ids, range) and account_ids.step == 1


def id_bounds(account_ids: Sequence[int] | None) -> tuple[int, int] | None:
    """``(start, stop)`` when ``account_ids`` is a contiguous ``range`` of pks (how close of business
    passes a chunk), so a step can filter ``pk >= start AND pk < stop`` instead of a long ``IN`` list."""
    if is_id_range(account_ids):
        return account_ids.start, account_ids.stop
    return None


def account_filter(account_ids: Sequence[int] | None, field: str = "account_id") -> Q:
    """The ORM filter of a chunk on ``field``: ``field >= start AND field < stop`` for a ``range`` (how close
    of business passes a chunk), ``field IN (…)`` for any other list of pks, nothing for ``None``."""
    if account_ids is None:
        return Q()
    bounds = id_bounds(account_ids)
    if bounds:
        return Q(**{f"{field}__gte": bounds[0], f"{field}__lt": bounds[1]})
    return Q(**{f"{field}__in": list(account_ids)})


def date(value: dt.date):
    return connection.ops.adapt_datefield_value(value)


def now():
    return connection.ops.adapt_datetimefield_value(timezone.now())


def insert_select(model, values: dict, from_sql: str, params: Sequence = ()) -> int:
    """``INSERT INTO model's table (…) SELECT … FROM …``: ``values`` maps column names to SQL expressions
    over ``from_sql`` (or to ``(expression, parameters)``); every other column gets its field's default as
    a bound parameter (``now`` for ``auto_now``/``auto_now_add``), so a column added to the model later is
    filled too. ``params`` are those of ``from_sql``."""
    columns, exprs, select_params = [], [], []
    stamp = timezone.now()
    for field in model._meta.concrete_fields:
        if field.primary_key and field.column not in values:
            continue
        columns.append(connection.ops.quote_name(field.column))
        if field.column in values:
            expr = values[field.column]
            expr, expr_params = expr if isinstance(expr, tuple) else (expr, [])
            exprs.append(expr)
            select_params.extend(expr_params)
            continue
        value = stamp if getattr(field, "auto_now", False) or getattr(field, "auto_now_add", False) else field.get_default()
        exprs.append("%s")
        select_params.append(field.get_db_prep_save(value, connection))
    unknown = set(values) - {f.column for f in model._meta.concrete_fields}
    if unknown:  # pragma: no cover - a programming error
        raise ValueError(f"{model._meta.label} has no column {sorted(unknown)}")
    return execute(f"INSERT INTO {model._meta.db_table} ({', '.join(columns)}) SELECT {', '.join(exprs)} {from_sql}",
                   [*select_params, *params])


def _plain(field):
    """How to pass a value of ``field`` straight to the driver, or ``None`` when it needs the field's own
    conversion (dates, times, money…). Choices are str/int enums: passed as their plain value."""
    if isinstance(field, (models.CharField, models.TextField)):
        return lambda v: v if v is None or type(v) is str else str(v)
    if isinstance(field, (models.IntegerField, models.ForeignKey)) and not isinstance(field, models.BooleanField):
        return lambda v: v if v is None or type(v) is int else int(v)
    return None


def insert_objects(objs: Sequence[models.Model], *, batch_size: int = 1000, ignore_conflicts: bool = False) -> None:
    """Insert unsaved instances of one model and set their primary keys — what ``bulk_create`` does,
    faster. ``auto_now``/``auto_now_add`` columns get the current time.

    On PostgreSQL the keys are drawn from the table's sequence first and the rows go in with one ``COPY``
    (no SQL text or parameter list to build: ~5× faster than multi-row ``INSERT`` for thousands of rows).
    With ``ignore_conflicts`` they are copied into a temporary table and moved with ``INSERT … SELECT …
    ON CONFLICT DO NOTHING`` (as ``bulk_create(ignore_conflicts=True)``, the keys are then not set).
    Elsewhere (SQLite) multi-row ``INSERT … RETURNING`` statements, without ``bulk_create``'s per-value
    field machinery for text and integer columns (dates, times and money still go through the field's
    ``get_db_prep_save``)."""
    if not objs:
        return
    model = type(objs[0])
    fields = [f for f in model._meta.concrete_fields if not f.primary_key]
    stamp = timezone.now()
    stamped = [f.attname for f in fields if getattr(f, "auto_now", False) or getattr(f, "auto_now_add", False)]
    for obj in objs:
        for attname in stamped:
            setattr(obj, attname, stamp)
    if pg():
        _copy_objects(model, fields, objs, ignore_conflicts=ignore_conflicts)
        return
    converters = [_plain(f) or (lambda v, f=f: f.get_db_prep_save(v, connection)) for f in fields]
    columns = ", ".join(connection.ops.quote_name(f.column) for f in fields)
    pk = connection.ops.quote_name(model._meta.pk.column)
    placeholders = "(" + ", ".join(["%s"] * len(fields)) + ")"
    conflict = " ON CONFLICT DO NOTHING" if ignore_conflicts else ""
    for start in range(0, len(objs), batch_size):
        batch = objs[start:start + batch_size]
        params = []
        for obj in batch:
            params.extend(convert(getattr(obj, f.attname)) for f, convert in zip(fields, converters))
        sql = f"INSERT INTO {model._meta.db_table} ({columns}) VALUES {', '.join([placeholders] * len(batch))}{conflict}"
        if ignore_conflicts:
            execute(sql, params)
            continue
        ids = rows(f"{sql} RETURNING {pk}", params)
        for obj, (new_id,) in zip(batch, ids):
            obj.pk = new_id
            obj._state.adding, obj._state.db = False, connection.alias


def _copy_value(field):
    """How a value of ``field`` goes into ``COPY`` (psycopg dumps str, int, Decimal, date, datetime, bool)."""
    plain = _plain(field)
    if plain is not None or isinstance(field, (models.BooleanField, models.DecimalField, models.DateTimeField,
                                               models.DateField, models.FloatField)):
        return plain or (lambda v: v)
    return lambda v: field.get_db_prep_save(v, connection)


def _copy_objects(model, fields, objs, *, ignore_conflicts: bool) -> None:
    table, pk = model._meta.db_table, model._meta.pk
    quote = connection.ops.quote_name
    converters = [_copy_value(f) for f in fields]
    columns = [pk.column, *(f.column for f in fields)]
    column_list = ", ".join(quote(c) for c in columns)
    ids = [row[0] for row in rows(
        "SELECT nextval(pg_get_serial_sequence(%s, %s)) FROM generate_series(1, %s)", [table, pk.column, len(objs)]
    )]
    target = table
    if ignore_conflicts:
        target = f"copy_{table}"
        execute(f"CREATE TEMPORARY TABLE IF NOT EXISTS {target} AS SELECT {column_list} FROM {table} LIMIT 0")
        clear(target)
    with connection.cursor() as cursor, connection.wrap_database_errors:  # psycopg's errors as Django's
        with cursor.cursor.copy(f"COPY {target} ({column_list}) FROM STDIN") as copy:
            for new_id, obj in zip(ids, objs):
                copy.write_row([new_id, *(convert(getattr(obj, f.attname)) for f, convert in zip(fields, converters))])
    if ignore_conflicts:
        execute(f"INSERT INTO {table} ({column_list}) SELECT {column_list} FROM {target} ON CONFLICT DO NOTHING")
        clear(target)
        return
    for obj, new_id in zip(objs, ids):
        obj.pk = new_id
        obj._state.adding, obj._state.db = False, connection.alias


def references(table: str, count: int) -> None:
    """``table`` (n, reference): ``count`` fresh public references numbered 1…count, made by
    :func:`core.refs.new_reference` (unguessable), for an ``INSERT … SELECT`` that joins on a row number."""
    empty_table(table, "n BIGINT PRIMARY KEY, reference VARCHAR(16) NOT NULL")
    refs = [new_reference() for _ in range(count)]
    for start in range(0, count, 2000):
        batch = refs[start:start + 2000]
        values = ", ".join(["(%s, %s)"] * len(batch))
        params = [p for n, ref in enumerate(batch, start + 1) for p in (n, ref)]
        execute(f"INSERT INTO {table} (n, reference) VALUES {values}", params)


"""The one way to write the journal. Every function refuses an entry whose debits and credits differ.

``journal_post`` takes legs built in Python (one movement: a purchase, a repayment…).
``journal_post_select`` is the set-based poster for close of business: it inserts the lines with
``INSERT … SELECT`` from queries the caller builds (one debit line per credit account, say) and can add
one balancing line for the total; it then computes the entry's totals *from the lines it inserted* and
refuses the entry (rolling the transaction back) when they differ.
"""
from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from decimal import Decimal
from collections.abc import Iterable, Sequence

from django.db import connection, transaction
from django.db.models import QuerySet, Sum

from core.actors import Actor
from core.errors import ApplicationError
from core.money import ZERO, money
from ledger.models import JournalEntry, JournalLine


class UnbalancedEntryError(ApplicationError):
    """Debits differ from credits: the entry is refused (a programming error, never a customer's)."""

    code = "unbalanced_entry"
    http_status = 500


@dataclass(frozen=True)
class Leg:
    code: str
    debit: Decimal = ZERO
    credit: Decimal = ZERO
    credit_account_id: int | None = None


def Dr(code: str, amount: Decimal, account_id: int | None = None) -> Leg:  # noqa: N802
    return Leg(code=code, debit=money(amount), credit_account_id=account_id)


def Cr(code: str, amount: Decimal, account_id: int | None = None) -> Leg:  # noqa: N802
    return Leg(code=code, credit=money(amount), credit_account_id=account_id)


def _actor_fields(actor: Actor | None) -> dict:
    if actor is None:
        return {"actor": None, "actor_rule": ""}
    return actor.log_fields()


def journal_post(
    *,
    kind: str,
    on: dt.date,
    legs: Iterable[Leg],
    memo: str = "",
    source: str = "",
    actor: Actor | None = None,
    reverses: JournalEntry | None = None,
) -> JournalEntry | None:
    """Post one entry. Zero legs are dropped; a negative leg, a leg with both sides, or debits ≠ credits
    is refused with :class:`UnbalancedEntryError`. Returns ``None`` when every leg is zero (nothing moved).

    The legs are checked before anything is written, so a refusal leaves the caller's transaction usable;
    the entry and its lines are then written together (in the caller's transaction, or in their own; no
    savepoint: a failure there fails the caller's transaction with them)."""
    kept: list[Leg] = []
    for leg in legs:
        debit, credit = money(leg.debit), money(leg.credit)
        if debit < 0 or credit < 0 or (debit and credit):
            raise UnbalancedEntryError(
                "A journal leg must be one-sided and positive.", details={"code": leg.code, "debit": str(debit), "credit": str(credit)}
            )
        if debit or credit:
            kept.append(Leg(code=leg.code, debit=debit, credit=credit, credit_account_id=leg.credit_account_id))
    if not kept:
        return None
    total_debit = sum((leg.debit for leg in kept), ZERO)
    total_credit = sum((leg.credit for leg in kept), ZERO)
    if total_debit != total_credit:
        raise UnbalancedEntryError(
            f"Unbalanced entry ({kind}): debits {total_debit} ≠ credits {total_credit}.",
            details={"debit": str(total_debit), "credit": str(total_credit), "source": source},
        )
    with transaction.atomic(savepoint=False):
        entry = JournalEntry.objects.create(
            kind=kind, posted_on=on, memo=memo[:200], source=source[:80], total_debit=total_debit,
            total_credit=total_credit, reverses=reverses, **_actor_fields(actor),
        )
        JournalLine.objects.bulk_create(
            JournalLine(
                entry=entry, ledger_account_id=leg.code, credit_account_id=leg.credit_account_id,
                debit=leg.debit, credit=leg.credit,
            )
            for leg in kept
        )
    return entry


def _as_sql(query) -> tuple[str, Sequence]:
    if isinstance(query, QuerySet):
        return query.query.sql_with_params()
    return query


def journal_entry_open(*, kind: str, on: dt.date, memo: str = "", source: str = "", actor: Actor | None = None) -> JournalEntry:
    """An empty entry (totals 0 = 0) that a set-based poster fills with :func:`journal_post_select`
    (``entry=``) in the same transaction; rows it posts can point at it (``journal_entry_id``) first."""
    return JournalEntry.objects.create(kind=kind, posted_on=on, memo=memo[:200], source=source[:80], **_actor_fields(actor))


@transaction.atomic
def journal_post_select(
    *,
    kind: str,
    on: dt.date,
    selects: Sequence,
    balance: tuple[str, str] | None = None,
    memo: str = "",
    source: str = "",
    actor: Actor | None = None,
    entry: JournalEntry | None = None,
) -> JournalEntry | None:
    """Set-based posting. Each item of ``selects`` is ``(sql, params)`` (or a ``values()`` queryset)
    returning rows with four columns named ``ledger_account_id, credit_account_id, debit, credit``;
    rows whose debit and credit are both zero are skipped. ``balance=(code, "debit"|"credit")`` adds one
    line on ``code`` for the difference (the income side of a day's fees, say). Returns the entry, or
    ``None`` if nothing was posted."""
    if entry is None:
        entry = journal_entry_open(kind=kind, on=on, memo=memo, source=source, actor=actor)
    table = JournalLine._meta.db_table
    with connection.cursor() as cursor:
        for query in selects:
            sql, params = _as_sql(query)
            cursor.execute(
                f"INSERT INTO {table} (entry_id, ledger_account_id, credit_account_id, debit, credit) "
                f"SELECT %s, q.ledger_account_id, q.credit_account_id, q.debit, q.credit FROM ({sql}) q "
                f"WHERE q.debit <> 0 OR q.credit <> 0",
                [entry.pk, *params],
            )
    totals = JournalLine.objects.filter(entry=entry).aggregate(d=Sum("debit"), c=Sum("credit"))
    debit, credit = money(totals["d"] or ZERO), money(totals["c"] or ZERO)
    if balance is not None and debit != credit:
        code, side = balance
        gap = debit - credit
        if (side == "credit" and gap < 0) or (side == "debit" and gap > 0):
            raise UnbalancedEntryError(
                f"The balancing line of {kind} would be on the wrong side.", details={"debit": str(debit), "credit": str(credit)}
            )
        JournalLine.objects.create(
            entry=entry, ledger_account_id=code, debit=-gap if side == "debit" else ZERO, credit=gap if side == "credit" else ZERO
        )
        totals = JournalLine.objects.filter(entry=entry).aggregate(d=Sum("debit"), c=Sum("credit"))
        debit, credit = money(totals["d"] or ZERO), money(totals["c"] or ZERO)
    if debit == 0 and credit == 0:
        entry.delete()
        return None
    if debit != credit:
        raise UnbalancedEntryError(
            f"Unbalanced entry ({kind}): debits {debit} ≠ credits {credit}.",
            details={"debit": str(debit), "credit": str(credit), "source": source},
        )
    JournalEntry.objects.filter(pk=entry.pk).update(total_debit=debit, total_credit=credit)
    entry.total_debit, entry.total_credit = debit, credit
    return entry


@transaction.atomic
def journal_reverse(*, entry: JournalEntry, on: dt.date, actor: Actor | None = None, memo: str = "") -> JournalEntry:
    """Post the mirror of ``entry`` (every debit becomes a credit) and link it to the original."""
    if JournalEntry.objects.filter(reverses=entry).exists():
        raise UnbalancedEntryError("This entry is already reversed.", code="already_reversed")
    legs = [
        Leg(code=line.ledger_account_id, debit=line.credit, credit=line.debit, credit_account_id=line.credit_account_id)
        for line in entry.lines.all()
    ]
    return journal_post(
        kind=JournalEntry.Kind.REVERSAL, on=on, legs=legs, memo=memo or f"Reversal of JE{entry.pk}",
        source=entry.source, actor=actor, reverses=entry,
    )

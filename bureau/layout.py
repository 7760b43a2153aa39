"""The monthly file's layout (documented in docs/notices-and-bureau.md).

CSV, UTF-8, comma-separated, ``\\n`` line ends, quoted only where a value needs it. Three kinds of line:

``H,institution_code,period(YYYYMM),version,as_of(YYYYMMDD),record_count``
    the header, first line.
``A|C,account_ref,name,id_type,id_number,opened_on(YYYYMMDD),credit_limit,balance,overdue_amount,dpd,``
``account_status,classification,account_type,history,dispute``
    one per reported account-month (PRODUCT §13): ``A`` in a first version, and in a re-issue for a record
    unchanged since the previous version; ``C`` for a record that a re-issue corrects. ``id_type`` 10 =
    resident identity card. ``account_ref`` is the credit line's reference, or a cash loan's (a separate
    account, ``account_type`` D1; the credit line is R1; a cash loan's ``credit_limit`` is its amount and
    ``opened_on`` its drawdown date). ``dpd`` and ``account_status`` are the month's highest and worst.
    ``history``: 24 characters, oldest month first — ``N`` normal, ``1``–``7`` the month's highest DPD in
    30-day steps, ``B`` written off, ``C`` closed, ``/`` not open yet, ``*`` no record. ``dispute``: ``1``
    while a dispute (异议) of the record is open, else ``0``.
    Money has two decimals and no separators. ``account_status``: N normal, F frozen, C closed, W written
    off. ``classification``: 1 正常, 2 关注, 3 次级, 4 可疑, 5 损失.
``T,record_count,total_balance,total_overdue``
    the trailer, last line: the bureau checks the counts and sums.
"""
from __future__ import annotations

import csv
import datetime as dt
import io
from collections.abc import Iterable
from dataclasses import dataclass
from decimal import Decimal

ID_TYPE_RESIDENT_CARD = "10"


@dataclass(frozen=True)
class Line:
    kind: str  # "A" or "C"
    account_ref: str
    name: str
    id_number: str
    opened_on: dt.date
    credit_limit: Decimal
    balance: Decimal
    overdue_amount: Decimal
    dpd: int
    account_status: str
    classification: str
    account_type: str = "R1"
    history: str = ""
    disputed: bool = False


def render(*, institution_code: str, period: dt.date, version: int, as_of: dt.date, lines: Iterable[Line]) -> str:
    lines = list(lines)
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(["H", institution_code, f"{period:%Y%m}", version, f"{as_of:%Y%m%d}", len(lines)])
    for line in lines:
        writer.writerow([
            line.kind, line.account_ref, line.name, ID_TYPE_RESIDENT_CARD, line.id_number, f"{line.opened_on:%Y%m%d}",
            f"{line.credit_limit:.2f}", f"{line.balance:.2f}", f"{line.overdue_amount:.2f}", line.dpd,
            line.account_status, line.classification, line.account_type, line.history, int(line.disputed),
        ])
    writer.writerow(["T", len(lines), f"{sum((x.balance for x in lines), Decimal('0')):.2f}",
                     f"{sum((x.overdue_amount for x in lines), Decimal('0')):.2f}"])
    return out.getvalue()


def file_name(*, institution_code: str, period: dt.date, version: int) -> str:
    return f"{institution_code}_{period:%Y%m}_v{version}.csv"

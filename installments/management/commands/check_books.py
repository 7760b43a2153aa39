"""``python manage.py check_books``: prove the books; exits non-zero on any breach."""
from __future__ import annotations

import sys

from django.core.management.base import BaseCommand

from core.money import format_cny
from installments.books import books_check


class Command(BaseCommand):
    help = "Verify the journal and the credit engine's balances agree; prints a summary, exits 1 on any breach."

    def add_arguments(self, parser):
        parser.add_argument("--limit", type=int, default=50, help="Breaches to print (default 50).")

    def handle(self, *args, **options):
        report = books_check()
        out = self.stdout
        out.write("Journal")
        out.write(f"  entries {report.entries:>12,}   lines {report.journal_lines:>12,}")
        out.write(f"  debits  {format_cny(report.total_debit):>20}   credits {format_cny(report.total_credit):>20}")
        out.write("")
        out.write(f"  {'account':<6} {'name':<42} {'debit':>18} {'credit':>18} {'balance':>18}")
        for code, name, debit, credit in report.by_ledger_account:
            out.write(f"  {code:<6} {name[:42]:<42} {format_cny(debit):>18} {format_cny(credit):>18} {format_cny(debit - credit):>18}")
        out.write("")
        out.write(f"Credit accounts checked {report.accounts_checked:,}")
        out.write(f"  receivable in the journal      {format_cny(report.receivable):>20}")
        out.write(f"  open lines + billed charges    {format_cny(report.open_lines_and_charges):>20}")
        out.write(f"  used amount (limits)           {format_cny(report.used_amount):>20}")
        out.write(f"  customer credit balances       {format_cny(report.credit_balances):>20}")
        out.write("")
        if report.ok:
            out.write(self.style.SUCCESS("Books are clean: 0 breaches."))
            return
        out.write(self.style.ERROR(f"{len(report.breaches)} breach(es):"))
        for breach in report.breaches[: options["limit"]]:
            out.write(f"  - {breach}")
        sys.exit(1)

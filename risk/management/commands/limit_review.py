"""``manage.py limit_review [--dry-run] [--on DATE] [--account REF …]``: review the due and triggered
accounts (PRODUCT §3); with ``--dry-run`` show what would change and write nothing."""
from __future__ import annotations

import datetime as dt

from django.core.management.base import BaseCommand, CommandError

from accounts.models import CreditAccount
from core.business_date import get_business_date
from core.money import format_cny
from risk.daily import limit_reviews_run


class Command(BaseCommand):
    help = "Run limit reviews for a business date (default: today's business date)."

    def add_arguments(self, parser):
        parser.add_argument("--dry-run", action="store_true", help="Show what the review would change; write nothing.")
        parser.add_argument("--on", help="Business date (YYYY-MM-DD).")
        parser.add_argument("--account", action="append", default=[], help="Review only this account (reference).")

    def handle(self, *args, **options):
        try:
            on = dt.date.fromisoformat(options["on"]) if options["on"] else get_business_date()
        except ValueError:
            raise CommandError("--on must be a date (YYYY-MM-DD)") from None
        account_ids = None
        if options["account"]:
            found = dict(CreditAccount.objects.filter(reference__in=options["account"]).values_list("reference", "pk"))
            missing = sorted(set(options["account"]) - set(found))
            if missing:
                raise CommandError(f"unknown accounts: {', '.join(missing)}")
            account_ids = list(found.values())
        summary = limit_reviews_run(on=on, account_ids=account_ids, dry_run=options["dry_run"])
        head = "DRY RUN — nothing written. " if options["dry_run"] else ""
        self.stdout.write(f"{head}Limit review {on.isoformat()}: {summary.as_dict()}")
        for r in summary.results:
            change = (f"{format_cny(r.old_limit)} → {format_cny(r.new_limit)}" if r.action != "none"
                      else f"stays {format_cny(r.old_limit)}")
            score = f"score {r.score_before}→{r.score_after}" if r.score_after is not None else f"score {r.score_before}"
            self.stdout.write(
                f"  {r.account_reference}  {r.action:5}  {change:32}  rule={r.rule}  triggers={','.join(r.triggers)}  "
                f"{score}  {r.explanation}"
            )

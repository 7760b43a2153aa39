"""``manage.py demo_live --through DATE``: move the demo portfolio further through time — the demo
customers keep buying, returning and paying (or not) as their hidden profiles say, and close of
business runs every day — so that outcomes after an observation date exist for
``train_scorecard --dataset portfolio --as-of DATE``."""
from __future__ import annotations

import datetime as dt
import random

from django.core.management.base import BaseCommand, CommandError

from core.business_date import get_business_date


class Command(BaseCommand):
    help = "Let the demo portfolio live (purchases, repayments, close of business) from the business date through DATE."

    def add_arguments(self, parser):
        parser.add_argument("--through", required=True, help="Last day to live (YYYY-MM-DD).")
        parser.add_argument("--seed", type=int, default=20261128, help="The demo's seed (seed_demo --seed).")

    def handle(self, *args, **options):
        from risk.demo import demo_accounts, life_of, live

        try:
            through = dt.date.fromisoformat(options["through"])
        except ValueError:
            raise CommandError("--through must be a date (YYYY-MM-DD)") from None
        start = get_business_date()
        if through < start:
            raise CommandError(f"The business date is already {start}.")
        accounts = demo_accounts()
        if not accounts:
            raise CommandError("No demo portfolio: run `manage.py seed_demo` first.")
        lives = {a.pk: life_of(a, seed=options["seed"], anchor=start) for a in accounts}
        self.stdout.write(f"Living {len(lives)} demo accounts from {start} through {through}…")
        counts = live(lives=lives, rng=random.Random(options["seed"] + through.toordinal()), start=start,
                      end=through + dt.timedelta(days=1), stdout=self.stdout)
        self.stdout.write(self.style.SUCCESS(f"Business date is now {get_business_date()}: {counts}"))

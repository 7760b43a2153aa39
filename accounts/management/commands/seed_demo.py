"""Seed a realistic demo portfolio (idempotent): ``python manage.py seed_demo [--customers N]``.

Creates a staff superuser (credentials printed, kept in ``var/demo-admin.txt``), customers with
valid identities and consents, credit accounts with various limits and bill days, then lets every
app that has a ``demo`` module add its own activity (``<app>.demo.seed(...)``)."""
from __future__ import annotations

import datetime as dt
import importlib
import random
import secrets
from decimal import Decimal

from django.apps import apps
from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand
from django.db import transaction
from django.utils import timezone

from accounts import services
from accounts.demo_data import demo_identity
from accounts.models import CreditAccount, CreditProduct, Customer
from core.actors import Actor
from core.business_date import set_business_date

LIMIT_BANDS = [(Decimal("20000.00"), 15), (Decimal("10000.00"), 35), (Decimal("5000.00"), 30), (Decimal("2000.00"), 20)]
HISTORY_DAYS = 180


class Command(BaseCommand):
    help = "Create a demo superuser and a realistic demo portfolio (idempotent)."

    def add_arguments(self, parser):
        parser.add_argument("--customers", type=int, default=300, help="Number of demo customers (default 300).")
        parser.add_argument("--seed", type=int, default=20261128, help="Random seed (same seed, same portfolio).")
        parser.add_argument("--no-activity", action="store_true", help="Only customers and accounts.")

    def handle(self, *args, customers: int, seed: int, no_activity: bool, **options):
        self._superuser()
        rng = random.Random(seed)
        end = timezone.localdate()
        start = end - dt.timedelta(days=HISTORY_DAYS)
        fresh = not Customer.objects.filter(external_id__startswith="demo-").exists()
        if fresh:
            set_business_date(start)
        product = CreditProduct.objects.filter(code="baitiao").first() or CreditProduct.objects.create(
            code="baitiao", name="Baitiao"
        )
        accounts = self._portfolio(rng, customers, product, start)
        self.stdout.write(f"Portfolio: {len(accounts)} demo accounts ({Customer.objects.count()} customers in all).")
        if fresh and not no_activity:
            for config in apps.get_app_configs():
                try:
                    module = importlib.import_module(f"{config.name}.demo")
                except ModuleNotFoundError as exc:
                    if exc.name != f"{config.name}.demo":
                        raise
                    continue
                self.stdout.write(f"Demo activity: {config.verbose_name}…")
                module.seed(accounts=accounts, stdout=self.stdout, rng=random.Random(seed + len(config.name)), start=start, end=end)
        if fresh:
            set_business_date(end)
        self.stdout.write(self.style.SUCCESS("Demo data ready."))

    def _superuser(self) -> None:
        User = get_user_model()
        path = settings.VAR_DIR / "demo-admin.txt"
        if path.exists():
            password = path.read_text().strip()
        else:
            password = secrets.token_urlsafe(12)
        user = User.objects.filter(username="admin").first()
        if user is None:
            User.objects.create_superuser("admin", "admin@example.com", password)
            path.write_text(password)
        elif not path.exists():
            user.set_password(password)
            user.save(update_fields=["password"])
            path.write_text(password)
        self.stdout.write(self.style.SUCCESS(f"Staff login: admin / {password}  (kept in {path})"))

    def _portfolio(self, rng: random.Random, count: int, product: CreditProduct, start: dt.date) -> list[CreditAccount]:
        system = Actor.system("seed_demo")
        bands = [band for band, weight in LIMIT_BANDS for _ in range(weight)]
        existing = set(Customer.objects.filter(external_id__startswith="demo-").values_list("external_id", flat=True))
        for n in range(1, count + 1):
            identity = demo_identity(rng, n)
            limit, bill_day = rng.choice(bands), rng.randint(1, 28)
            opened = start - dt.timedelta(days=rng.randrange(0, 400))
            marketing = rng.random() < 0.7
            if identity["external_id"] in existing:
                continue
            with transaction.atomic():
                customer = services.customer_create(
                    **identity,
                    consents=[
                        ("data_processing", "2026.1", True), ("credit_bureau", "2026.1", True),
                        ("marketing", "2026.1", marketing), ("agency_sharing", "2026.1", rng.random() < 0.8),
                    ],
                )
                services.account_open(
                    customer=customer, product=product, fixed_limit=limit, bill_day=bill_day, opened_on=opened,
                    actor=system, reason="demo: score-band grant",
                )
        return list(
            CreditAccount.objects.filter(customer__external_id__startswith="demo-").select_related("customer").order_by("pk")
        )

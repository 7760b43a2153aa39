"""Demo staff for ``manage.py seed_demo``: one user per role, so each role's daily work can be tried
from the admin. They share the demo superuser's password (``var/demo-admin.txt``)."""
from __future__ import annotations

from django.apps import apps
from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group

from staff.roles import ROLES

DEMO_USERS = {
    "credit_officer": "officer",
    "finance": "finance",
    "collector": "collector",
    "collections_manager": "manager",
    "risk_analyst": "risk",
    "auditor": "auditor",
    "administrator": "administrator",
    "privacy_officer": "privacy",
}


def seed(*, accounts, stdout, rng, start, end) -> None:
    from staff.services import portfolio_snapshot_take

    path = settings.VAR_DIR / "demo-admin.txt"
    password = path.read_text().strip() if path.exists() else None
    User = get_user_model()
    for role in ROLES:
        username = DEMO_USERS[role.key]
        user, created = User.objects.get_or_create(username=username, defaults={"is_staff": True})
        if created:
            user.set_password(password) if password else user.set_unusable_password()
            user.save(update_fields=["password"])
        user.groups.add(Group.objects.get(name=role.name))
        if role.key == "collector" and apps.is_installed("debt_collection"):
            from debt_collection.models import Collector, Queue

            collector, _ = Collector.objects.get_or_create(user=user)
            collector.queues.add(*Queue.objects.all())
            _cases_for(collector, stdout)
    portfolio_snapshot_take(on=end)
    stdout.write(f"Demo staff: {', '.join(DEMO_USERS.values())} (password as admin's, in {path}).")


def _cases_for(collector, stdout) -> None:
    """Give the demo ``collector`` a full desk: open cases in M1, M2 and M3+, promises due today and
    call-backs (``debt_collection.demo.collector_desk_seed``), so "my day" and "my cases" are not empty."""
    from debt_collection.demo import collector_desk_seed

    collector_desk_seed(collector=collector, stdout=stdout)

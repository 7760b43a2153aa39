"""Staff roles (PRODUCT §1) as Django groups with least privilege.

A role is a list of permission patterns (``app_label.codename`` with ``fnmatch`` wildcards) to
include and to exclude. :func:`roles_sync` turns the patterns into each group's exact permission set:
it runs after every ``migrate`` (a ``post_migrate`` handler, so the permissions of apps and models
added later are picked up) and on demand (``manage.py sync_roles``). A role's group holds exactly
what its patterns match — a permission added to a role group by hand is removed at the next sync;
a local variant of a role is a new group, not an edit of a managed one.

The matrix for people is ``staff/PERMISSIONS.md``; ``manage.py sync_roles --matrix`` prints the
permission-level matrix from the live database.
"""
from __future__ import annotations

from dataclasses import dataclass
from fnmatch import fnmatchcase

from django.db import transaction

FULL_PII = "accounts.view_full_pii"
#: Reading every customer and account. Held by each role that reads customers (``accounts.view_*``),
#: not by the collector: without it a user sees only the customers, accounts, purchases, statements
#: and repayments of the collection cases assigned to them (``staff/scoping.py``).
ALL_CUSTOMERS = "accounts.view_all_customers"
#: Converting a bill into an installment plan (fees are charged): money moves, so its own permission.
INSTALL_STATEMENT = "installments.install_statement"

#: Permissions the import/export screens check (``IMPORT_EXPORT_*_PERMISSION_CODE``) on models that
#: live in other apps. Django creates permissions from a model's ``Meta.permissions``; these are
#: ensured by :func:`ensure_extra_permissions` so the staff app needs no change in those apps.
EXTRA_PERMISSIONS: dict[str, tuple[tuple[str, str], ...]] = {
    "accounts.customer": (
        ("import_customer", "Can import customers with their accounts and limits"),
        ("export_customer", "Can export customers (masked unless the user may see personal data)"),
        ("view_all_customers", "Can read every customer and account, not only those of own collection cases"),
    ),
    "accounts.creditaccount": (("export_creditaccount", "Can export credit accounts"),),
    "installments.statement": (("install_statement", "Can convert a bill into an installment plan"),),
}

# Reusable pattern groups.
READ_CUSTOMERS = ("accounts.view_*",)
READ_ENGINE = ("installments.view_*", "ledger.view_*", "cashloans.view_*")
POLICY_CONFIG = (
    "accounts.add_creditproduct", "accounts.change_creditproduct",
    "*.add_*policy", "*.change_*policy",
    "cashloans.add_cashloanproduct", "cashloans.change_cashloanproduct",
)


@dataclass(frozen=True)
class Role:
    key: str
    name: str
    does: str
    include: tuple[str, ...]
    exclude: tuple[str, ...] = ()

    def grants(self, perm: str) -> bool:
        """``perm`` is ``app_label.codename``."""
        if any(fnmatchcase(perm, pattern) for pattern in self.exclude):
            return False
        return any(fnmatchcase(perm, pattern) for pattern in self.include)


ROLES: tuple[Role, ...] = (
    Role(
        key="credit_officer",
        name="Credit officer",
        does="Reviews applications and risk holds, adjusts limits, freezes accounts, imports customer and campaign lists.",
        include=(
            *READ_CUSTOMERS, FULL_PII,
            "accounts.add_customer", "accounts.add_creditaccount", "accounts.adjust_limit", "accounts.freeze_account",
            "accounts.import_customer", "accounts.export_customer",
            "risk.view_*", "risk.work_reviewcase", "risk.grant_campaign",
            "installments.view_*", "installments.review_purchase", "cashloans.view_*",
            "cashloans.add_accountcashlimit", "cashloans.change_accountcashlimit",
            "staff.view_temporarylimitcampaign", "staff.import_temporarylimitcampaign",
            "staff.view_importjob", "staff.view_importrecord",
            "bureau.view_*", "bureau.download_bureaufile", "bureau.reissue_bureaufile", "notices.view_notice",
        ),
    ),
    Role(
        key="finance",
        name="Finance",
        does="Posts bank repayment files and storefront orders, refunds, waivers; reconciles the books; exports.",
        include=(
            *READ_CUSTOMERS, *READ_ENGINE,
            "installments.post_*", "installments.refund_*", "installments.waive_*", "installments.settle_*",
            "installments.reverse_*", INSTALL_STATEMENT,
            "insurance.view_*", "insurance.cancel_policy", "insurance.pay_claim",
            "ledger.reconcile_*", "ledger.add_journalentry",
            "cob.view_*",
            "accounts.export_creditaccount",
            "staff.view_bankrepaymentfile", "staff.import_bankrepaymentfile", "staff.export_bankrepaymentfile",
            "staff.view_repaymentexport", "staff.export_repaymentexport",
            "staff.view_storefrontorderimport", "staff.import_storefrontorderimport", "staff.export_storefrontorderimport",
            "staff.view_statementexport", "staff.export_statementexport",
            "staff.view_scheduleexport", "staff.export_scheduleexport",
            "staff.view_overdueaccount", "staff.export_overdueaccount",
            "staff.view_importjob", "staff.view_importrecord", "staff.view_dashboard",
        ),
        exclude=(FULL_PII,),
    ),
    Role(
        key="collector",
        name="Collector",
        does="Works assigned overdue cases: contacts, promises to pay.",
        include=(
            "accounts.view_customer", "accounts.view_creditaccount",
            "installments.view_*",
            "collections.view_collectioncase", "collections.work_case",
            "collections.view_contactattempt", "collections.add_contactattempt",
            "collections.view_promisetopay", "collections.add_promisetopay",
            "collections.view_reminder", "collections.view_thirdparty", "collections.view_channelpreference",
            "collections.view_caseescalation", "collections.view_caseassignment",
        ),
        exclude=(FULL_PII,),
    ),
    Role(
        key="collections_manager",
        name="Collections manager",
        does="Assigns cases, manages queues, collectors and agencies, write-offs, collector performance.",
        include=(
            *READ_CUSTOMERS, *READ_ENGINE,
            "collections.*",
            "installments.write_off*", "installments.waive_*",
            "accounts.export_creditaccount",
            "staff.view_overdueaccount", "staff.export_overdueaccount",
            "staff.view_collectionassignmentexport", "staff.export_collectionassignmentexport",
            "staff.view_dashboard",
        ),
        exclude=(FULL_PII, "collections.delete_*", "collections.*_collectionpolicy"),
    ),
    Role(
        key="risk_analyst",
        name="Risk analyst",
        does="Watches the portfolio and delinquency, maintains rules, score bands and scorecard versions.",
        include=(
            *READ_CUSTOMERS, *READ_ENGINE,
            "risk.*",
            "collections.view_*", "cob.view_*", "bureau.view_*",
            "accounts.export_creditaccount",
            "staff.view_*", "staff.export_overdueaccount", "staff.export_statementexport", "staff.export_scheduleexport",
        ),
        exclude=(FULL_PII, "risk.delete_*", "risk.work_reviewcase", "risk.grant_campaign"),
    ),
    Role(
        key="auditor",
        name="Auditor",
        does="Reads everything permitted and changes nothing: view permissions only.",
        include=("*.view_*",),
        exclude=(FULL_PII, "sessions.*"),
    ),
    Role(
        key="administrator",
        name="Administrator",
        does="Manages staff users (not their roles or superuser status: a superuser's), API clients, products "
        "and policies, re-runs close of business; reads everything. Posts no money and sees no unmasked "
        "personal data (separation of duties).",
        include=(
            "*.view_*",
            "auth.*",
            *POLICY_CONFIG,
            "insurance.add_insuranceproduct", "insurance.change_insuranceproduct",
            "core.change_businessdate",
            "cob.rerun_cobrun",
            "notices.add_noticetemplate", "notices.change_noticetemplate",
            "privacy.unlock_loginlockout",
            "integrations.add_apiclient", "integrations.change_apiclient", "integrations.change_apitoken",
        ),
        exclude=(FULL_PII, "sessions.*", "auth.*_permission", "auth.add_group", "auth.change_group",
                 "auth.delete_group",
                 # "*.add_*policy" means configuration, not a customer's insurance policy
                 "insurance.add_insurancepolicy", "insurance.change_insurancepolicy"),
    ),
    Role(
        key="privacy_officer",
        name="Privacy officer",
        does="Handles customers' personal-information requests (PIPL): access exports, corrections, deletions "
        "and rejections; closes a customer's accounts so that a deletion can be carried out.",
        include=(
            *READ_CUSTOMERS,
            "privacy.view_*", "privacy.add_datasubjectrequest", "privacy.change_datasubjectrequest",
            "privacy.export_personal_data",
            "accounts.close_account",
            "core.view_auditevent",
        ),
        exclude=(FULL_PII,),
    ),
)

ROLE_BY_KEY = {role.key: role for role in ROLES}
ROLE_NAMES = tuple(role.name for role in ROLES)


def role(key: str) -> Role:
    return ROLE_BY_KEY[key]


def ensure_extra_permissions(using: str = "default") -> int:
    """Create the permissions of :data:`EXTRA_PERMISSIONS` (idempotent). Returns how many were made."""
    from django.apps import apps
    from django.contrib.auth.models import Permission
    from django.contrib.contenttypes.models import ContentType

    created = 0
    for label, perms in EXTRA_PERMISSIONS.items():
        try:
            model = apps.get_model(label)
        except LookupError:
            continue
        ct = ContentType.objects.db_manager(using).get_for_model(model, for_concrete_model=False)
        for codename, name in perms:
            _, made = Permission.objects.using(using).get_or_create(
                content_type=ct, codename=codename, defaults={"name": name}
            )
            created += made
    return created


def permissions_for(role_: Role, using: str = "default") -> list:
    from django.contrib.auth.models import Permission

    perms = Permission.objects.using(using).select_related("content_type")
    return [p for p in perms if role_.grants(f"{p.content_type.app_label}.{p.codename}")]


@transaction.atomic
def roles_sync(*, using: str = "default") -> dict[str, tuple[int, int]]:
    """Create the role groups and set each one's permissions to exactly what its patterns match.

    Returns ``{group name: (added, removed)}``."""
    from django.contrib.auth.models import Group, Permission

    permissions_ensure(using)
    every = list(Permission.objects.using(using).select_related("content_type"))
    labels = {p.pk: f"{p.content_type.app_label}.{p.codename}" for p in every}
    changes: dict[str, tuple[int, int]] = {}
    for role_ in ROLES:
        group, _ = Group.objects.using(using).get_or_create(name=role_.name)
        wanted = {pk for pk, label in labels.items() if role_.grants(label)}
        current = set(group.permissions.values_list("pk", flat=True))
        add, remove = wanted - current, current - wanted
        if add:
            group.permissions.add(*add)
        if remove:
            group.permissions.remove(*remove)
        changes[role_.name] = (len(add), len(remove))
    return changes


def permissions_ensure(using: str = "default") -> None:
    """Every installed app's model permissions (Django's own post-migrate step, idempotent) plus
    :data:`EXTRA_PERMISSIONS`."""
    from django.apps import apps
    from django.contrib.auth.management import create_permissions

    for config in apps.get_app_configs():
        create_permissions(config, verbosity=0, using=using)
    ensure_extra_permissions(using)


def on_post_migrate(sender, app_config=None, using="default", plan=None, **kwargs) -> None:
    """After ``migrate``: sync the role groups (the permissions of every app included).

    ``flush`` emits post_migrate too, without a migration plan: an emptied database (the test runner
    between transactional tests) gets its groups back from the data migration's rows, never from here —
    groups made here would collide with the rows a serialized rollback restores."""
    if plan is None:
        return
    roles_sync(using=using)


def permission_matrix(using: str = "default") -> str:
    """The permission-level matrix (Markdown): one row per permission granted to any role."""
    from django.contrib.auth.models import Permission

    perms = Permission.objects.using(using).select_related("content_type").order_by(
        "content_type__app_label", "content_type__model", "codename"
    )
    header = "| permission | " + " | ".join(r.name for r in ROLES) + " |"
    lines = [header, "|---|" + "---|" * len(ROLES)]
    for p in perms:
        label = f"{p.content_type.app_label}.{p.codename}"
        marks = ["✔" if r.grants(label) else "" for r in ROLES]
        if any(marks):
            lines.append(f"| `{label}` | " + " | ".join(marks) + " |")
    return "\n".join(lines)

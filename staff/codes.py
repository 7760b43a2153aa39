"""The error codes and audit actions of the staff app (PRODUCT §12; the catalogue is ``core.catalogue``).
Every ``code=`` an error of this app raises and every ``action=`` it audits is declared here:
``tests/core/test_codes.py`` fails otherwise. ``scripts/catalogue_scan.py --write`` adds new ones."""
from core.catalogue import catalogue

CATALOGUE = catalogue(
    'staff',
    errors={
        'campaign_conflict': 'Account … already has a … limit in this campaign for these dates; revoke it before granting another amount.',
        'import_not_checked': 'Only a job whose dry run passed can be imported (this one: …).',
        'import_permission_required': 'You may not run this import.',
    },
    audit={
    },
)

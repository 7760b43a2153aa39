"""The error codes and audit actions of the notices app (PRODUCT §12; the catalogue is ``core.catalogue``).
Every ``code=`` an error of this app raises and every ``action=`` it audits is declared here:
``tests/core/test_codes.py`` fails otherwise. ``scripts/catalogue_scan.py --write`` adds new ones."""
from core.catalogue import catalogue

CATALOGUE = catalogue(
    'notices',
    errors={
    },
    audit={
        'notice_withdraw': 'Notice withdraw',
    },
)

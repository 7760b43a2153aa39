"""The error codes and audit actions of the bureau app (PRODUCT §12; the catalogue is ``core.catalogue``).
Every ``code=`` an error of this app raises and every ``action=`` it audits is declared here:
``tests/core/test_codes.py`` fails otherwise. ``scripts/catalogue_scan.py --write`` adds new ones."""
from core.catalogue import catalogue

CATALOGUE = catalogue(
    'bureau',
    errors={
        'bureau_download_denied': 'Downloading a bureau file needs the download and full personal-data permissions.',
        'bureau_file_not_latest': 'Only the latest month can be re-issued: the figures of earlier months are not kept as of their date.',
        'bureau_file_superseded': 'Only the current version of a file can be re-issued.',
        'reason_required': 'A reason is required.',
    },
    audit={
        'bureau_file.downloaded': 'Bureau file.downloaded',
        'bureau_file.issued': 'Bureau file.issued',
        'bureau_file.reissued': 'Bureau file.reissued',
    },
)

"""The error codes and audit actions of the cob app (PRODUCT §12; the catalogue is ``core.catalogue``).
Every ``code=`` an error of this app raises and every ``action=`` it audits is declared here:
``tests/core/test_codes.py`` fails otherwise. ``scripts/catalogue_scan.py --write`` adds new ones."""
from core.catalogue import catalogue

CATALOGUE = catalogue(
    'cob',
    errors={
        'cob_already_done': 'Close of business for … is already done; re-run it with force.',
        'cob_chunk_size': 'The chunk size must be at least 1.',
        'cob_earlier_date': 'The business date is …; … … and later days depend on it: it cannot be run again.…',
        'cob_future_date': 'The business date is …; … cannot close before it. Close the days in between first (cob --through).',
        'cob_open_conflict': 'Could not open close of business for ….',
        'cob_posted_since_close': 'Close of business for … cannot be re-run: … was posted after it closed, and a re-run would judge it as of that day. The next close judges it.',
        'cob_run_not_failed': '… has not failed; only a failed run is re-run.',
        'cob_run_not_found': 'No such close-of-business run.',
    },
    audit={
        'cob_rerun': 'Cob rerun',
    },
)

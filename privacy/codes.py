"""The error codes and audit actions of the privacy app (PRODUCT §12; the catalogue is ``core.catalogue``).
Every ``code=`` an error of this app raises and every ``action=`` it audits is declared here:
``tests/core/test_codes.py`` fails otherwise. ``scripts/catalogue_scan.py --write`` adds new ones."""
from core.catalogue import catalogue

CATALOGUE = catalogue(
    'privacy',
    errors={
        'account_open': 'The customer has a credit account that is not closed; the contract still needs the data. Close the account first.',
        'already_anonymised': 'The customer has already been anonymised.',
        'anonymised': 'The customer has been anonymised: there is nothing to show.',
        'consent_not_granted': 'That consent is not currently given.',
        'customer_exists': 'Another customer has this ID number.',
        'export_permission_required': 'Exporting personal data needs the export_personal_data permission.',
        'invalid': '… cannot be empty.',
        'invalid_channel': 'Unknown channel ….',
        'invalid_consent': 'Unknown consent kind ….',
        'invalid_date': 'A request cannot be received in the future.',
        'invalid_fields': 'Unknown personal-data fields.',
        'invalid_kind': 'Unknown request kind ….',
        'invalid_policy': 'Days and years must be at least 1.',
        'invalid_transition': 'A … request cannot become ….',
        'no_encryption_keys': 'FIELD_ENCRYPTION_KEYS is not set: there is no newest key to rotate to.',
        'not_locked': 'This login is not locked.',
        'nothing_to_correct': 'The corrections change nothing.',
        'pii_permission_required': 'Seeing personal data in full needs the view_full_pii permission.',
        'reason_required': 'A reason is required to unlock a login.',
        'request_closed': 'The request was rejected.',
        'staff_only': 'Only active staff users may do this.',
        'too_long': '… is longer than … characters.',
        'wrong_kind': 'Only an access request is answered with an export.',
        'wrong_request': 'The request is not a correction request of this customer.',
    },
    audit={
        'consent_withdrawn': 'Consent withdrawn',
        'data_request_received': 'Data request received',
        'data_request_status': 'Data request status',
        'login_unlock': 'Login unlock',
        'personal_data_deletion': 'Personal data deletion',
        'personal_data_export': 'Personal data export',
        'pii_correction': 'Pii correction',
        'pii_unmask': 'Pii unmask',
        'privacy_policy_change': 'Privacy policy change',
        'role_change': 'Role change',
    },
)

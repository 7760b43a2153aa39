"""The error codes and audit actions of the core app (PRODUCT §12; the catalogue is ``core.catalogue``).
Every ``code=`` an error of this app raises and every ``action=`` it audits is declared here:
``tests/core/test_codes.py`` fails otherwise. ``scripts/catalogue_scan.py --write`` adds new ones."""
from core.catalogue import catalogue

CATALOGUE = catalogue(
    'core',
    errors={
        'application_error': 'ApplicationError',
        'authentication_failed': 'Authentication failed',
        'business_rule': 'Well-formed input that a business rule refuses (422): insufficient limit, frozen account…',
        'conflict': 'A concurrent or duplicate request (409).',
        'error': 'Any other error of the request (the fallback of core.api.exception_handler).',
        'id_number_birth_date': 'ID number holds an impossible birth date.',
        'id_number_characters': 'ID number must be 17 digits followed by a digit or X.',
        'id_number_check_digit': 'ID number check digit is wrong.',
        'id_number_length': 'ID number must have 18 characters.',
        'invalid': 'Bad input (400).',
        'malformed_request': 'Malformed request',
        'method_not_allowed': 'Method not allowed',
        'mobile_invalid': 'Mobile number must be 11 digits starting with 13–19 (1[3-9] + 9 digits).',
        'not_acceptable': 'Not acceptable',
        'not_authenticated': 'Not authenticated',
        'not_found': 'NotFoundError',
        'permission_denied': 'PermissionDeniedError',
        'throttled': 'Throttled',
        'unsupported_media_type': 'Unsupported media type',
    },
    audit={
        'business_date_change': 'Business date change',
    },
)

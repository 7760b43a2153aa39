"""The error codes and audit actions of the integrations app (PRODUCT §12; the catalogue is ``core.catalogue``).
Every ``code=`` an error of this app raises and every ``action=`` it audits is declared here:
``tests/core/test_codes.py`` fails otherwise. ``scripts/catalogue_scan.py --write`` adds new ones."""
from core.catalogue import catalogue

CATALOGUE = catalogue(
    'integrations',
    errors={
        'client_exists': 'A client with this name already exists.',
        'client_revoked': 'The client is already revoked.',
        'idempotency_in_progress': 'A request with this … is still being processed; retry in a moment.',
        'idempotency_key_invalid': '… must be 1 to 255 printable ASCII characters without spaces.',
        'idempotency_key_required': 'This call moves money: send an … header (a unique value per operation, e.g. a UUID).',
        'idempotency_key_reuse': 'This … was already used for a different request.',
        'invalid_expiry': 'A token cannot expire in the past.',
        'invalid_rate': 'A throttle rate looks like "600/min" (per s, min, hour or day).',
        'invalid_scope': 'Unknown scope ….',
        'invalid_type': 'Expected …, got ….',
        'malformed_request': 'NUL characters are not allowed in the path or the query.',
        'name_required': 'A client needs a name.',
        'reason_required': 'A reason is required for this change.',
        'request_too_large': 'Request too large',
        'server_error': 'Something went wrong on our side; the request was not completed.',
        'token_revoked': 'The token is already revoked.',
    },
    audit={
        'api_client_create': 'Api client create',
        'api_client_revoke': 'Api client revoke',
        'api_client_update': 'Api client update',
        'api_token_issue': 'Api token issue',
        'api_token_revoke': 'Api token revoke',
    },
)

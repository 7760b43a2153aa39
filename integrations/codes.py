"""The error codes and audit actions of the integrations app (PRODUCT §12; the catalogue is ``core.catalogue``).
Every ``code=`` an error of this app raises and every ``action=`` it audits is declared here:
``tests/core/test_codes.py`` fails otherwise. ``scripts/catalogue_scan.py --write`` adds new ones."""
from core.catalogue import catalogue

CATALOGUE = catalogue(
    'integrations',
    errors={
        'client_exists': 'A client with this name already exists.',
        'client_revoked': 'The client is already revoked.',
        'grant_not_pending': 'This grant is …: nothing to approve; reject the request.',
        'grant_unknown': 'The scope grant this request is about does not exist.',
        'idempotency_in_progress': 'A request with this … is still being processed; retry in a moment.',
        'idempotency_key_invalid': '… must be 1 to 255 printable ASCII characters without spaces.',
        'idempotency_key_required': 'This call moves money: send an … header (a unique value per operation, e.g. a UUID).',
        'idempotency_key_reuse': 'This … was already used for a different request.',
        'invalid_expiry': 'A token cannot expire in the past.',
        'invalid_rate': 'A throttle rate looks like "600/min" (per s, min, hour or day).',
        'invalid_scope': 'Unknown scope ….',
        'invalid_type': 'Expected …, got ….',
        'malformed_request': 'NUL characters are not allowed in the path or the query.',
        'money_scope_needs_approval': "… can only be granted by a second person's approval; the approval threshold of this kind must make every grant wait.",
        'money_scope_needs_person': 'A money-moving scope is asked for by a person and approved by a second one; a system cannot grant it.',
        'money_scope_request_permission': 'Asking for an API scope needs the permission to manage API clients.',
        'name_required': 'A client needs a name.',
        'not_money_scope': '… is not a money-moving scope: it is granted at once.',
        'reason_required': 'A reason is required for this change.',
        'request_too_large': 'Request too large',
        'scope_already_granted': 'The client holds … already.',
        'scope_approver_not_permitted': 'Scope approver not permitted',
        'scope_awaiting_approval': "The scope(s) … of this client wait for a second person's approval.",
        'server_error': 'Something went wrong on our side; the request was not completed.',
        'token_revoked': 'The token is already revoked.',
    },
    audit={
        'api_client_create': 'Api client create',
        'api_client_revoke': 'Api client revoke',
        'api_client_update': 'Api client update',
        'api_money_call': 'Api money call',
        'api_scope_approve': 'Api scope approve',
        'api_scope_request': 'Api scope request',
        'api_scope_revoke': 'Api scope revoke',
        'api_scope_withdraw': 'Api scope withdraw',
        'api_token_issue': 'Api token issue',
        'api_token_revoke': 'Api token revoke',
        'api_token_rotate': 'Api token rotate',
    },
)

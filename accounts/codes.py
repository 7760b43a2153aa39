"""The error codes and audit actions of the accounts app (PRODUCT §12; the catalogue is ``core.catalogue``).
Every ``code=`` an error of this app raises and every ``action=`` it audits is declared here:
``tests/core/test_codes.py`` fails otherwise. ``scripts/catalogue_scan.py --write`` adds new ones."""
from core.catalogue import catalogue

CATALOGUE = catalogue(
    'accounts',
    errors={
        'account_closed': "A closed account's limit cannot change.",
        'account_exists': 'The customer already has an account for this product.',
        'account_not_active': 'Temporary limits are only granted to active accounts.',
        'account_not_found': 'No account with this id.',
        'age_below_minimum': 'The customer is … (from the ID number): no credit line below ….',
        'already_frozen': 'The account is already frozen.',
        'balance_outstanding': 'An account with a balance or a credit balance cannot be closed.',
        'bill_day_changed_recently': 'The bill day can change at most once in 6 months.',
        'bill_day_overdue': 'The bill day cannot change while the account is overdue.',
        'bill_day_too_early': 'The bill day cannot change in the first 3 months.',
        'bill_day_unchanged': 'That is already the bill day.',
        'customer_exists': 'A customer with this ID number already exists.',
        'invalid': 'Invalid',
        'invalid_amount': '… cannot be negative.',
        'invalid_bill_day': 'Bill day must be between 1 and 28.',
        'invalid_consent': 'Unknown consent kind ….',
        'invalid_dates': 'A temporary limit cannot end before it starts.',
        'limit_above_maximum': 'A fixed limit of … is above the policy maximum of ….',
        'limit_below_used': 'Limit below used',
        'limit_policy': 'A limit outside the policy (422).',
        'limit_unchanged': 'The new limit equals the current limit.',
        'manual_freeze': 'A manual freeze is only lifted by hand.',
        'marketing_consent_withdrawn': 'The customer withdrew the marketing consent on …: no campaign limit.',
        'name_required': 'Name is required.',
        'not_frozen': 'The account is not frozen.',
        'overdue_freeze': 'The account is frozen because it is overdue; it unfreezes once nothing is past due.',
        'processing_restricted': "The customer's data may only be stored (PIPL restriction): no campaign.",
        'product_inactive': 'Product … is not active.',
        'reason_required': 'A reason is required for this change.',
        'temporary_limit_above_maximum': 'Temporary limits of … in force at once are above the policy maximum of … (… % of the fixed limit).',
    },
    audit={
        'bill_day_change': 'Bill day change',
        'customer_mark_deceased': 'Customer mark deceased',
        'limit_change': 'Limit change',
    },
)

"""The error codes and audit actions of the cashloans app (PRODUCT §12; the catalogue is ``core.catalogue``).
Every ``code=`` an error of this app raises and every ``action=`` it audits is declared here:
``tests/core/test_codes.py`` fails otherwise. ``scripts/catalogue_scan.py --write`` adds new ones."""
from core.catalogue import catalogue

CATALOGUE = catalogue(
    'cashloans',
    errors={
        'account_not_active': 'The account is not active.',
        'apr_above_ceiling': 'The APR of this loan would be … %, above the … % ceiling.',
        'cash_amount_out_of_range': 'A cash loan is between … and ….',
        'cash_loan_not_found': 'No cash loan with this id.',
        'cash_loan_not_offered': 'This credit product does not lend cash.',
        'insufficient_cash_limit': 'Not enough of the cash sub-limit available.',
        'insufficient_limit': 'Not enough credit line available.',
        'invalid_card_number': 'A bank card number is 12 to 19 digits.',
        'invalid_cash_product': 'Invalid cash product',
        'invalid_tenor': 'Tenor … is not offered; choose one of ….',
    },
    audit={
        'cash_limit_set': 'Cash limit set',
        'cash_loan_draw': 'Cash loan draw',
        'cash_product_save': 'Cash product save',
    },
)

"""The error codes and audit actions of the cashloans app (PRODUCT §12; the catalogue is ``core.catalogue``).
Every ``code=`` an error of this app raises and every ``action=`` it audits is declared here:
``tests/core/test_codes.py`` fails otherwise. ``scripts/catalogue_scan.py --write`` adds new ones."""
from core.catalogue import catalogue

CATALOGUE = catalogue(
    'cashloans',
    errors={
        'account_not_active': 'The account is not active.',
        'account_written_off': 'The account is written off.',
        'apr_above_ceiling': 'The APR of this loan would be … %, above the … % ceiling.',
        'cash_amount_out_of_range': 'A cash loan is between … and ….',
        'cash_loan_billed_unpaid': 'An installment is billed and unpaid: pay the bill first.',
        'cash_loan_not_found': 'No cash loan with this id.',
        'cash_loan_not_offered': 'This credit product does not lend cash.',
        'cash_loan_schedule_changed': 'The schedule was changed by other means.',
        'external_ref_conflict': 'This external reference is already used.',
        'insufficient_cash_limit': 'Not enough of the cash sub-limit available.',
        'insufficient_limit': 'Not enough credit line available.',
        'invalid_card_number': 'A bank card number is 12 to 19 digits.',
        'invalid_cash_product': 'Invalid cash product',
        'invalid_loan_purpose': 'Declare what the cash is for: one of ….',
        'invalid_prepayment_mode': 'Choose how to use the prepayment: ….',
        'invalid_tenor': 'Tenor … is not offered; choose one of ….',
        'payout_already_failed': 'This drawdown was already reversed.',
        'payout_reversal_too_late': 'The loan was billed or repaid since: a failed payout can no longer reverse it.',
        'plan_not_active': 'Only an active cash loan can be prepaid.',
        'prepayment_covers_loan': 'This repays the whole loan: use the early repayment.',
    },
    audit={
        'cash_limit_set': 'Cash limit set',
        'cash_loan_draw': 'Cash loan draw',
        'cash_loan_payout_fail': 'Cash loan payout fail',
        'cash_loan_prepay': 'Cash loan prepay',
        'cash_product_save': 'Cash product save',
    },
)

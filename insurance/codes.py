"""The error codes and audit actions of the insurance app (PRODUCT §12; the catalogue is ``core.catalogue``).
Every ``code=`` an error of this app raises and every ``action=`` it audits is declared here:
``tests/core/test_codes.py`` fails otherwise. ``scripts/catalogue_scan.py --write`` adds new ones."""
from core.catalogue import catalogue

CATALOGUE = catalogue(
    'insurance',
    errors={
        'account_written_off': 'The account is written off.',
        'add_on_needs_installment': 'Insurance is sold with installment plans only.',
        'already_insured': 'This plan is already insured.',
        'apr_above_ceiling': 'With the insurance premium the APR would be … %, above the … % ceiling.',
        'claim_needs_checker': 'A claim is paid only once a second person approved it.',
        'claim_needs_person': 'A claim is made by a person.',
        'claim_not_found': 'No such claim.',
        'claim_not_pending': 'The claim is already paid.',
        'claim_pending': 'A claim on this policy already waits for approval.',
        'claim_threshold_not_zero': 'Claims are paid under four eyes: the approval threshold of insurance claims must be 0.00.',
        'deceased_waiver_stale': 'The account owes … in fees now, not the … approved.',
        'insurance_premium_zero': 'The premium of this plan would be 0.00.',
        'insurance_unavailable': 'No consumer-credit insurance is offered with this product.',
        'invalid_claim_reason': 'Unknown claim reason …; one of ….',
        'invalid_event_date': "The event date must be between the policy's start and today.",
        'plan_not_active': 'The insured plan owes nothing any more.',
        'policy_not_active': 'The policy is …, not active.',
        'policy_not_found': 'No insurance policy with this id.',
    },
    audit={
        'insurance_claim_pay': 'Insurance claim pay',
        'insurance_claim_submit': 'Insurance claim submit',
        'insurance_policy_cancel': 'Insurance policy cancel',
        'insurance_policy_create': 'Insurance policy create',
        'insurance_premium_prorate': 'Insurance premium prorate',
        'insurer_remit': 'Insurer remit',
    },
)

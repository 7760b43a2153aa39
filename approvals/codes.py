"""The error codes and audit actions of the approvals app (PRODUCT §12; the catalogue is ``core.catalogue``).
Every ``code=`` an error of this app raises and every ``action=`` it audits is declared here:
``tests/core/test_codes.py`` fails otherwise. ``scripts/catalogue_scan.py --write`` adds new ones."""
from core.catalogue import catalogue

CATALOGUE = catalogue(
    'approvals',
    errors={
        'approval_decided': 'This request was already decided (…).',
        'approval_gate_required': '… by a person goes through the approvals gate (approval_submit), so that a second person approves it above the thresholds.',
        'approval_kind_unknown': 'Unknown kind of approval ….',
        'approval_permission': 'Deciding a … needs the permission ….',
        'approval_stale': 'Approval stale',
        'invalid_threshold': '… cannot be negative.',
        'maker_cannot_decide': 'The maker of a request cannot decide it: a second person must.',
        'reason_required': '… is required.',
        'threshold_floor': '…: … cannot be blank; the floor in code keeps it at most ….',
        'threshold_unchanged': 'The thresholds are unchanged.',
    },
    audit={
        'approval_approve': 'Approval approve',
        'approval_policy_change': 'Approval policy change',
        'approval_reject': 'Approval reject',
        'approval_request': 'Approval request',
        'approval_stale': 'Approval stale',
    },
)

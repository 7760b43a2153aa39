"""The error codes and audit actions of the bureau app (PRODUCT §12; the catalogue is ``core.catalogue``).
Every ``code=`` an error of this app raises and every ``action=`` it audits is declared here:
``tests/core/test_codes.py`` fails otherwise. ``scripts/catalogue_scan.py --write`` adds new ones."""
from core.catalogue import catalogue

CATALOGUE = catalogue(
    'bureau',
    errors={
        'bureau_download_denied': 'Downloading a bureau file needs the download and full personal-data permissions.',
        'bureau_file_not_latest': 'Only the latest month can be re-issued: the figures of earlier months are not kept as of their date.',
        'bureau_file_superseded': 'Only the current version of a file can be re-issued.',
        'dispute_answer_required': 'An answer (the finding, or the reason for rejecting) is required.',
        'dispute_answered': 'This dispute has been answered already.',
        'dispute_claim_required': 'Say what the customer disputes.',
        'dispute_correction_invalid': 'Unknown fields: ….',
        'dispute_correction_required': 'An upheld dispute says what the record should have said.',
        'letter_not_queued': 'Only a queued letter can be marked sent.',
        'reason_required': 'A reason is required.',
    },
    audit={
        'bureau_dispute.answered': 'Bureau dispute.answered',
        'bureau_dispute.opened': 'Bureau dispute.opened',
        'bureau_file.downloaded': 'Bureau file.downloaded',
        'bureau_file.issued': 'Bureau file.issued',
        'bureau_file.reissued': 'Bureau file.reissued',
        'bureau_negative.purged': 'Bureau negative.purged',
        'bureau_pre_notice.escalated': 'Bureau pre notice.escalated',
        'bureau_pre_notice.letter_queued': 'Bureau pre notice.letter queued',
        'bureau_pre_notice.withdrawn': 'Bureau pre notice.withdrawn',
        'bureau_pre_notice_letter.sent': 'Bureau pre notice letter.sent',
        'bureau_pre_notice_letter.withdrawn': 'Bureau pre notice letter.withdrawn',
    },
)

"""The error codes and audit actions of the staff app (PRODUCT §12; the catalogue is ``core.catalogue``).
Every ``code=`` an error of this app raises and every ``action=`` it audits is declared here:
``tests/core/test_codes.py`` fails otherwise. ``scripts/catalogue_scan.py --write`` adds new ones."""
from core.catalogue import catalogue

CATALOGUE = catalogue(
    'staff',
    errors={
        'campaign_conflict': 'Account … already has a … limit in this campaign for these dates; revoke it before granting another amount.',
        'email_required': 'A staff login needs its own email address: the set-password link goes there.',
        'email_taken': 'Another login already uses this email address: one person, one login.',
        'import_confirmer_is_uploader': 'You uploaded this file: a second person, not you, confirms its control total against the bank statement.',
        'import_control_total_invalid': '…: …',
        'import_control_total_mismatch': "The control total typed (… lines, …) is not the file's: nothing was posted. Check the bank statement and the file.",
        'import_control_total_required': 'Type the number of lines and the total amount read on the bank statement.',
        'import_not_checked': 'Only a job whose dry run passed can be imported (this one: …).',
        'import_not_waiting': "Only a file waiting for a second person's confirmation can be confirmed (this one: …).",
        'import_permission_required': 'You may not run this import.',
        'import_reason_required': 'Say why the file is refused.',
        'superuser_only': 'Only a superuser sends a link to a superuser.',
        'user_inactive': 'An inactive login gets no set-password link.',
        'username_required': 'A login needs a user name.',
        'username_taken': 'A login with this user name already exists.',
    },
    audit={
        'email_change': 'Email change',
        'import_file_confirm': 'Import file confirm',
        'import_file_reject': 'Import file reject',
        'import_file_upload': 'Import file upload',
        'password_change': 'Password change',
        'password_link_issue': 'Password link issue',
        'password_link_use': 'Password link use',
        'staff_user_create': 'Staff user create',
    },
)

from django.apps import AppConfig
from django.db.models.signals import post_migrate
from django.utils.translation import gettext_lazy as _


class StaffConfig(AppConfig):
    """The staff experience: roles, the portfolio dashboard, import/export screens, admin look."""

    name = "staff"
    verbose_name = _("Staff tools")

    def ready(self) -> None:
        from staff import credentials, roles, signals  # noqa: F401

        # After every app's migrations (the staff app is the last project app), so permissions of
        # apps and models added later are in the roles.
        post_migrate.connect(roles.on_post_migrate, sender=self, dispatch_uid="staff_roles_sync")
        signals.connect()
        credentials.connect()  # password and email changes of logins in the audit trail (issue 23)

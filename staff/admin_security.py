"""Who may change who may do what (issue 12).

* Superuser status, role groups and direct permissions of a user are changed only by a superuser:
  for anyone else those fields are read-only, a superuser's account cannot be changed (nor its
  password set), and groups are read-only (their permissions are ``staff.roles``').
* Security logs — login attempts and logs (axes) — are read-only for everyone, superusers included:
  nobody deletes or edits them from the admin (the audit trail and the personal-data access log are
  read-only in their own apps). Lock-outs expire on their own.
"""
from __future__ import annotations

from axes.admin import AccessAttemptAdmin, AccessFailureLogAdmin, AccessLogAdmin
from axes.models import AccessAttempt, AccessFailureLog, AccessLog
from django.contrib import admin
from django.contrib.auth import get_user_model
from django.contrib.auth.admin import GroupAdmin, UserAdmin
from django.contrib.auth.models import Group

SUPERUSER_ONLY_FIELDS = ("is_superuser", "groups", "user_permissions")


def _superuser(request) -> bool:
    return bool(request.user.is_active and request.user.is_superuser)


class StaffUserAdmin(UserAdmin):
    def get_readonly_fields(self, request, obj=None):
        fields = tuple(super().get_readonly_fields(request, obj))
        if obj is None or _superuser(request):
            return fields
        return fields + tuple(f for f in SUPERUSER_ONLY_FIELDS if f not in fields)

    def has_change_permission(self, request, obj=None):
        if obj is not None and obj.is_superuser and not _superuser(request):
            return False
        return super().has_change_permission(request, obj)

    def has_delete_permission(self, request, obj=None):
        if obj is not None and obj.is_superuser and not _superuser(request):
            return False
        return super().has_delete_permission(request, obj)


class StaffGroupAdmin(GroupAdmin):
    def has_add_permission(self, request):
        return _superuser(request)

    def has_change_permission(self, request, obj=None):
        return _superuser(request)

    def has_delete_permission(self, request, obj=None):
        return _superuser(request)


class SecurityLogMixin:
    """Read-only for everyone: no add, change, delete (nor the bulk delete action)."""

    actions = ()

    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


class AccessAttemptLogAdmin(SecurityLogMixin, AccessAttemptAdmin):
    pass


class AccessLogReadOnlyAdmin(SecurityLogMixin, AccessLogAdmin):
    pass


class AccessFailureLogReadOnlyAdmin(SecurityLogMixin, AccessFailureLogAdmin):
    pass


def _reregister(model, admin_class) -> None:
    if admin.site.is_registered(model):
        admin.site.unregister(model)
    admin.site.register(model, admin_class)


_reregister(get_user_model(), StaffUserAdmin)
_reregister(Group, StaffGroupAdmin)
_reregister(AccessAttempt, AccessAttemptLogAdmin)
_reregister(AccessLog, AccessLogReadOnlyAdmin)
_reregister(AccessFailureLog, AccessFailureLogReadOnlyAdmin)

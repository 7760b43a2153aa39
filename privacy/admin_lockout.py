"""The "Login lock-outs" screen: every (user name, address) pair axes is counting, whether it is
locked and until when, and the action that unlocks a pair (``privacy.unlock_loginlockout``: the
administrator role), with a reason, audited. Read-only otherwise: the failures stay in axes' log."""
from __future__ import annotations

from django.conf import settings
from django.contrib import admin

from core.actors import Actor
from core.admin_utils import ReadOnlyAdmin, ReasonForm, badge, form_action
from privacy.lockout import locked_until, login_unlock
from privacy.models import LoginLockout


class LockedFilter(admin.SimpleListFilter):
    title = "locked"
    parameter_name = "locked"

    def lookups(self, request, model_admin):
        return (("yes", "Locked"), ("no", "Counting"))

    def queryset(self, request, queryset):
        if self.value() == "yes":
            return queryset.filter(failures_since_start__gte=settings.AXES_FAILURE_LIMIT)
        if self.value() == "no":
            return queryset.filter(failures_since_start__lt=settings.AXES_FAILURE_LIMIT)
        return queryset


@admin.register(LoginLockout)
class LoginLockoutAdmin(ReadOnlyAdmin):
    list_display = ("username", "ip_address", "failures_since_start", "attempt_time", "state")
    list_filter = (LockedFilter,)
    search_fields = ("username", "ip_address")
    ordering = ("-attempt_time",)
    fields = ("username", "ip_address", "failures_since_start", "attempt_time", "user_agent", "path_info")
    readonly_fields = fields
    actions = ("unlock",)

    @admin.display(description="state")
    def state(self, obj) -> str:
        until = locked_until(obj)
        if until is None:
            return badge("open", "not locked")
        return badge("declined", f"locked until {until:%Y-%m-%d %H:%M}" if until.year < 9999 else "locked")

    def has_unlock_permission(self, request) -> bool:
        return request.user.has_perm("privacy.unlock_loginlockout")

    @form_action(ReasonForm, description="Unlock the selected logins", permissions=["unlock"], submit_label="Unlock")
    def unlock(self, request, obj, data):
        login_unlock(attempt=obj, actor=Actor.staff(request.user), reason=data["reason"])

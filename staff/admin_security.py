"""Who may change who may do what (issue 12).

* Superuser status, role groups and direct permissions of a user are changed only by a superuser:
  for anyone else those fields are read-only, a superuser's account cannot be changed (nor its
  password set), and groups are read-only (their permissions are ``staff.roles``').
* Security logs — login attempts and logs (axes) — are read-only for everyone, superusers included:
  nobody deletes or edits them from the admin (the audit trail and the personal-data access log are
  read-only in their own apps). Lock-outs expire on their own.
* No one sets another person's password (issue 23, PRODUCT §12): the add and change forms have no
  password fields; a new login and a reset get a one-time set-password link mailed to the user's own
  address (``staff.credentials``); Django's "change password" page of another user answers 403 for
  everyone, superusers included (one's own leads to the change-your-password page, which asks for the
  current one). A login's email is unique (letter case ignored) and, once the user has set a password,
  read-only for everyone else.
"""
from __future__ import annotations

from axes.admin import AccessAttemptAdmin, AccessFailureLogAdmin, AccessLogAdmin
from axes.models import AccessAttempt, AccessFailureLog, AccessLog
from django import forms
from django.contrib import admin, messages
from django.contrib.admin.utils import unquote
from django.contrib.auth import get_user_model
from django.contrib.auth.admin import GroupAdmin, UserAdmin
from django.contrib.auth.forms import UserChangeForm
from django.contrib.auth.models import Group
from django.core.exceptions import PermissionDenied
from django.http import HttpResponseRedirect
from django.urls import reverse
from django.utils.translation import gettext_lazy as _

from core.actors import Actor
from core.admin_utils import ReasonForm, form_action
from core.errors import PermissionDeniedError
from core.masking import mask_email
from staff import credentials

SUPERUSER_ONLY_FIELDS = ("is_superuser", "groups", "user_permissions")


def _superuser(request) -> bool:
    return bool(request.user.is_active and request.user.is_superuser)


def _base_url(request) -> str:
    return request.build_absolute_uri("/").rstrip("/")


class _UniqueEmailMixin:
    email_required = False  # a login made before issue 23 may have none (it gets no links until it has one)

    def clean_email(self):
        email = credentials.normalize_email(self.cleaned_data.get("email"))
        if not email and self.email_required:
            raise forms.ValidationError(_("A staff login needs its own email address: the set-password link goes there."))
        if credentials.email_taken(email, exclude_pk=self.instance.pk):
            raise forms.ValidationError(_("Another login already uses this email address: one person, one login."))
        return email


class StaffUserCreationForm(_UniqueEmailMixin, forms.ModelForm):
    """A new login: no password here. The user gets a one-time link by email and chooses it."""

    email_required = True

    class Meta:
        model = get_user_model()
        fields = ("username", "email", "first_name", "last_name")

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["email"].required = True
        self.fields["email"].help_text = _("The user's own address: the one-time set-password link is sent there.")


class StaffUserChangeForm(_UniqueEmailMixin, UserChangeForm):
    pass


class StaffUserAdmin(UserAdmin):
    form = StaffUserChangeForm
    add_form = StaffUserCreationForm
    add_form_template = None
    add_fieldsets = ((None, {"classes": ("wide",), "fields": ("username", "email", "first_name", "last_name")}),)
    actions = ("send_password_links",)

    def get_fieldsets(self, request, obj=None):
        if obj is None:
            return self.add_fieldsets
        # No password field on anyone's page: links are sent, passwords are chosen by their owner.
        return tuple((name, {**opts, "fields": tuple(f for f in opts["fields"] if f != "password")})
                     for name, opts in super().get_fieldsets(request, obj))

    def get_readonly_fields(self, request, obj=None):
        fields = tuple(super().get_readonly_fields(request, obj))
        if obj is not None and obj.pk != request.user.pk and obj.has_usable_password() and "email" not in fields:
            fields += ("email",)  # where another person's links go: not redirected by whoever manages users
        if obj is None or _superuser(request):
            return fields
        return fields + tuple(f for f in SUPERUSER_ONLY_FIELDS if f not in fields)

    def save_model(self, request, obj, form, change):
        if change:
            return super().save_model(request, obj, form, change)
        data = form.cleaned_data
        user = credentials.staff_user_create(
            username=data["username"], email=data["email"], first_name=data.get("first_name", ""),
            last_name=data.get("last_name", ""), actor=Actor.staff(request.user), base_url=_base_url(request),
        )
        obj.pk = user.pk
        obj.__dict__.update({k: v for k, v in user.__dict__.items() if not k.startswith("_")})
        self.message_user(request, _("A one-time set-password link was sent to %(email)s.") % {
            "email": mask_email(user.email)}, messages.SUCCESS)

    def save_related(self, request, form, formsets, change):
        if change:
            super().save_related(request, form, formsets, change)

    def user_change_password(self, request, id, form_url=""):
        """Nobody sets another person's password, superusers included; one's own is changed on the
        change-your-password page (which asks for the current password)."""
        user = self.get_object(request, unquote(id))
        if not self.has_change_permission(request, user) or user is None or user.pk != request.user.pk:
            raise PermissionDenied
        return HttpResponseRedirect(reverse("admin:password_change"))

    @form_action(ReasonForm, description=_("Send a one-time set-password link (to the user's own email)"),
                 permissions=["change"], submit_label=_("Send"))
    def send_password_links(self, request, obj, data):
        if obj.is_superuser and not _superuser(request):
            raise PermissionDeniedError("Only a superuser sends a link to a superuser.", code="superuser_only")
        credentials.password_link_issue(user=obj, actor=Actor.staff(request.user), base_url=_base_url(request),
                                        reason=data["reason"])

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

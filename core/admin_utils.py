"""Admin helpers shared by every app: actions that ask for input (a reason, an amount) and call a
service per selected object, and money columns formatted the same everywhere."""
from __future__ import annotations

from decimal import Decimal
from collections.abc import Callable

from django import forms
from django.contrib import admin, messages
from django.contrib.admin import helpers
from django.template.response import TemplateResponse
from django.utils.html import format_html
from django.utils.translation import gettext, gettext_lazy as _

from core.errors import ApplicationError
from core.money import format_cny


class ReasonForm(forms.Form):
    reason = forms.CharField(max_length=500, widget=forms.Textarea(attrs={"rows": 2, "cols": 60}), label=_("Reason"))


def form_action(
    form_class: type[forms.Form],
    *,
    description: str,
    permissions: list[str] | None = None,
    submit_label: str = _("Apply"),
) -> Callable:
    """Decorate ``fn(modeladmin, request, obj, data)``: the admin action first shows ``form_class``
    for the selected objects, then calls ``fn`` for each (each in its own service transaction) and
    reports successes and refusals (with the refusal's message) to the user."""

    def decorator(fn: Callable) -> Callable:
        def action(modeladmin, request, queryset):
            if request.POST.get("_form_action_apply"):
                form = form_class(request.POST)
                if form.is_valid():
                    done, refused = 0, []
                    for obj in queryset:
                        try:
                            fn(modeladmin, request, obj, form.cleaned_data)
                            done += 1
                        except ApplicationError as exc:
                            refused.append(f"{obj}: {exc.message}")
                    if done:
                        modeladmin.message_user(request, gettext("%(action)s: %(count)s done.") % {"action": description, "count": done},
                                                messages.SUCCESS)
                    for line in refused:
                        modeladmin.message_user(request, gettext("Refused — %(reason)s") % {"reason": line}, messages.ERROR)
                    return None
            else:
                form = form_class()
            context = {
                **modeladmin.admin_site.each_context(request),
                "title": description,
                "opts": modeladmin.model._meta,
                "queryset": queryset,
                "form": form,
                "action_name": fn.__name__,
                "action_checkbox_name": helpers.ACTION_CHECKBOX_NAME,
                "submit_label": submit_label,
            }
            return TemplateResponse(request, "admin/action_form.html", context)

        action.__name__ = fn.__name__
        return admin.action(description=description, permissions=permissions)(action)

    return decorator


class ReadOnlyAdmin(admin.ModelAdmin):
    """Rows the services write (journal, bureau files, policies, logs): nobody — superusers included — adds,
    changes or deletes them from the admin; staff with the view permission read them."""

    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


class ReadOnlyInline(admin.TabularInline):
    """The rows of a read-only record shown under it: nothing added, changed or deleted from here."""

    extra = 0
    can_delete = False

    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False


def money_column(field: str, label: str, *, ordering: bool = True) -> Callable:
    """A right-aligned ``¥1,234.50`` column for ``field`` (an attribute or annotation)."""

    def column(*args) -> str:  # works as a ModelAdmin attribute (self, obj) or a plain callable (obj)
        value = getattr(args[-1], field)
        return format_html('<span class="money">{}</span>', format_cny(value if value is not None else Decimal("0")))

    column.short_description = label
    if ordering:
        column.admin_order_field = field
    column.__name__ = f"{field}_display"
    return column


BADGE_COLOURS = {
    "active": "#2e7d32", "frozen": "#1565c0", "closed": "#757575", "overdue": "#c62828", "manual": "#6a1b9a",
    "declined": "#c62828", "held": "#ef6c00", "posted": "#2e7d32", "paid": "#2e7d32", "open": "#1565c0",
}


def badge(value: str, label: str | None = None) -> str:
    colour = BADGE_COLOURS.get(str(value), "#455a64")
    return format_html('<span class="badge" style="background:{}">{}</span>', colour, label or value)

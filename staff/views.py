"""Staff pages outside any one model's screens: the search across the back office, and the page where
a user chooses their own password through a one-time link (``staff.credentials``)."""
from __future__ import annotations

from django.contrib import admin, messages
from django.contrib.auth.views import INTERNAL_RESET_SESSION_TOKEN, PasswordResetConfirmView
from django.core.exceptions import PermissionDenied
from django.core.exceptions import ValidationError as DjangoValidationError
from django.http import HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import reverse_lazy
from django.utils.translation import gettext as _

from core.errors import ApplicationError
from staff.credentials import password_set_by_link
from staff.search import staff_search


def search_view(request):
    text = request.POST.get("q", "") if request.method == "POST" else request.GET.get("q", "")
    query, groups = staff_search(request=request, text=text)
    context = {
        **admin.site.each_context(request),
        "title": _("Search"),
        "q": query.text,
        "groups": groups,
        "kind": ("id_number" if query.id_number_hash else "mobile" if query.mobile else
                 "reference" if query.reference else "text") if query.text else "",
        "total": sum(len(g.hits) for g in groups),
    }
    request.current_app = admin.site.name
    return TemplateResponse(request, "admin/staff/search.html", context)


class SetPasswordView(PasswordResetConfirmView):
    """``<admin>/set-password/<uidb64>/<token>/``: Django's own checks of the link (the token moves to
    the session and the URL loses it, so it never leaks in a Referer); the password is set through
    :func:`staff.credentials.password_set_by_link` (audited), and the link is then spent."""

    template_name = "registration/password_reset_confirm.html"
    success_url = reverse_lazy("admin:login")
    post_reset_login = False

    def form_valid(self, form):
        try:
            password_set_by_link(user=self.user, password=form.cleaned_data["new_password1"])
        except DjangoValidationError as exc:
            form.add_error("new_password2", exc)
            return self.form_invalid(form)
        except ApplicationError as exc:
            raise PermissionDenied(exc.message) from exc
        self.request.session.pop(INTERNAL_RESET_SESSION_TOKEN, None)
        messages.success(self.request, _("Your password is set. Log in with it now."))
        return HttpResponseRedirect(self.get_success_url())

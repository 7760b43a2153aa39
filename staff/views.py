"""Staff pages outside any one model's screens: the search across the back office."""
from __future__ import annotations

from django.contrib import admin
from django.template.response import TemplateResponse
from django.utils.translation import gettext as _

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

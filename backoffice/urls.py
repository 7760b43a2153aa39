from django.conf import settings
from django.contrib import admin
from django.urls import include, path, re_path
from django.views import defaults
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerView
from django.utils.translation import gettext_lazy as _

from integrations.api import not_found
from integrations.middleware import api_error_handler
from staff.views import SetPasswordView, search_view

admin.site.site_header = _("Credit back office")
admin.site.site_title = _("Credit back office")
admin.site.index_title = _("Operations")

urlpatterns = [
    path(f"{settings.ADMIN_URL}search/", admin.site.admin_view(search_view), name="staff_search"),
    path(f"{settings.ADMIN_URL}set-password/<uidb64>/<token>/", SetPasswordView.as_view(), name="staff_set_password"),
    path(settings.ADMIN_URL, admin.site.urls),
    path("i18n/", include("django.conf.urls.i18n")),  # set_language: the staff language chooser
    path("api/schema/", SpectacularAPIView.as_view(), name="schema"),
    path("api/docs/", SpectacularSwaggerView.as_view(url_name="schema"), name="api-docs"),
    path("api/v1/", include("backoffice.api_urls")),
    re_path(r"^api/", not_found),  # any other path under /api/: the JSON 404, not the HTML page
]

# Errors outside a view: the JSON error body under /api/, Django's pages elsewhere (the admin).
handler400 = api_error_handler(400, "malformed_request", "The request is malformed.", defaults.bad_request)
handler403 = api_error_handler(403, "permission_denied", "You may not do this.", defaults.permission_denied)
handler404 = api_error_handler(404, "not_found", "No API call at this path.", defaults.page_not_found)
handler500 = api_error_handler(500, "server_error", "Something went wrong on our side; the request was not completed.",
                               defaults.server_error)

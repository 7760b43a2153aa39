from django.conf import settings
from django.contrib import admin
from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerView

from staff.views import search_view

admin.site.site_header = "Credit back office"
admin.site.site_title = "Credit back office"
admin.site.index_title = "Operations"

urlpatterns = [
    path(f"{settings.ADMIN_URL}search/", admin.site.admin_view(search_view), name="staff_search"),
    path(settings.ADMIN_URL, admin.site.urls),
    path("api/schema/", SpectacularAPIView.as_view(), name="schema"),
    path("api/docs/", SpectacularSwaggerView.as_view(url_name="schema"), name="api-docs"),
    path("api/v1/", include("backoffice.api_urls")),
]

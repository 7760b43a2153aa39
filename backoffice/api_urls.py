"""Version 1 of the integration API: each app contributes its own ``urls.py``; anything else under
``/api/`` answers with the JSON error body (404), never Django's HTML page."""
from django.urls import include, path, re_path

from integrations.api import not_found

urlpatterns = [
    path("", include("accounts.urls")),
    path("", include("installments.urls")),
    path("", include("cashloans.urls")),
    path("", include("insurance.urls")),
    path("", include("risk.urls")),
    path("agency/", include("debt_collection.urls")),
    re_path(r"^.*$", not_found),
]

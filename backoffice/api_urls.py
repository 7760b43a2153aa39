"""Version 1 of the integration API: each app contributes its own ``urls.py``."""
from django.urls import include, path

urlpatterns = [
    path("", include("accounts.urls")),
]

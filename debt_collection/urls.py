"""The agency API, included under ``/api/v1/agency/``."""
from django.urls import path

from debt_collection import api

urlpatterns = [
    path("cases/", api.CaseList.as_view(), name="agency-cases"),
    path("cases/<str:id>/", api.CaseDetail.as_view(), name="agency-case"),
    path("cases/<str:id>/contacts/", api.ContactCreate.as_view(), name="agency-case-contacts"),
    path("cases/<str:id>/promises/", api.PromiseCreate.as_view(), name="agency-case-promises"),
]

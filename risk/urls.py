from django.urls import path

from risk import api

urlpatterns = [
    path("applications/", api.ApplicationCreate.as_view(), name="api-application-create"),
    path("applications/<str:id>/", api.ApplicationDetail.as_view(), name="api-application-detail"),
    path("applications/<str:id>/human-review/", api.ApplicationHumanReview.as_view(), name="api-application-human-review"),
]

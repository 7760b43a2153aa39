from django.urls import path

from accounts.api import AccountDetail

urlpatterns = [
    path("accounts/<str:id>/", AccountDetail.as_view(), name="api-account-detail"),
]

from django.urls import path

from insurance.api import PolicyCancel, PolicyDetail

urlpatterns = [
    path("insurance-policies/<str:id>/", PolicyDetail.as_view(), name="insurance-policy-detail"),
    path("insurance-policies/<str:id>/cancel/", PolicyCancel.as_view(), name="insurance-policy-cancel"),
]

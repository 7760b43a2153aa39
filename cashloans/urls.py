from django.urls import path

from cashloans import api

urlpatterns = [
    path("cash-loans/quotes/", api.CashQuoteCreate.as_view(), name="api-cash-loan-quote"),
    path("cash-loans/", api.CashLoanCreate.as_view(), name="api-cash-loan-create"),
    path("cash-loans/<str:id>/", api.CashLoanDetail.as_view(), name="api-cash-loan-detail"),
    path("cash-loans/<str:id>/payout-failed/", api.CashLoanPayoutFailed.as_view(), name="api-cash-loan-payout-failed"),
    path("cash-loans/<str:id>/prepayments/", api.CashLoanPrepay.as_view(), name="api-cash-loan-prepay"),
]

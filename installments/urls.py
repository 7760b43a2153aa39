from django.urls import path

from installments import api

urlpatterns = [
    path("quotes/", api.QuoteCreate.as_view(), name="api-quote-create"),
    path("purchases/", api.PurchaseCreate.as_view(), name="api-purchase-create"),
    path("purchases/<str:id>/", api.PurchaseDetail.as_view(), name="api-purchase-detail"),
    path("purchases/<str:id>/refunds/", api.PurchaseRefundCreate.as_view(), name="api-purchase-refund-create"),
    path("accounts/<str:id>/statements/", api.AccountStatementList.as_view(), name="api-account-statements"),
    path("statements/<str:id>/installments/", api.StatementInstallCreate.as_view(), name="api-statement-install"),
    path("plans/<str:id>/settlement-quote/", api.PlanSettlementQuote.as_view(), name="api-plan-settlement-quote"),
    path("plans/<str:id>/settle/", api.PlanSettle.as_view(), name="api-plan-settle"),
    path("repayments/", api.RepaymentCreate.as_view(), name="api-repayment-create"),
]

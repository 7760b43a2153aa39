"""The OpenAPI schema: served, valid, every operation summarised and secured, every field of the
integration API's bodies typed and described, examples on the calls that move money."""
from __future__ import annotations

import pytest
import yaml
from drf_spectacular.generators import SchemaGenerator
from drf_spectacular.validation import validate_schema

pytestmark = pytest.mark.django_db

# Components of the calls of PRODUCT §10 (the applications and agency APIs belong to other apps).
OURS = {
    "AccountOut", "TemporaryLimitOut", "QuoteInRequest", "QuoteOut", "QuoteLine", "PurchaseInRequest", "PurchaseOut",
    "PlanOut", "ScheduleLineOut", "RefundInRequest", "RefundOut", "StatementOut", "StatementLineOut",
    "StatementInstallInRequest", "SettlementQuoteOut", "SettleInRequest", "RepaymentInRequest", "RepaymentOut",
    "AllocationTotals", "Error", "ErrorDetail", "PaginatedStatementOutList",
}
MONEY_CALLS = ["purchases_create", "purchases_refunds_create", "statements_installments_create",
               "plans_settle_create", "repayments_create", "quotes_create"]


@pytest.fixture(scope="module")
def schema():
    generated = SchemaGenerator().get_schema(request=None, public=True)
    validate_schema(generated)
    return generated


def test_schema_and_docs_are_served(client):
    response = client.get("/api/schema/")
    assert response.status_code == 200
    assert yaml.safe_load(response.content)["openapi"].startswith("3.")
    assert client.get("/api/docs/").status_code == 200


def test_every_operation_is_summarised_secured_and_documents_its_errors(schema):
    for path, operations in schema["paths"].items():
        for method, operation in operations.items():
            assert operation.get("summary"), f"{method} {path}"
            assert {"ApiToken": []} in operation["security"], f"{method} {path}"
            for status in ("401", "403", "429"):
                assert status in operation["responses"], f"{method} {path} {status}"


def test_every_field_of_our_bodies_is_typed_and_described(schema):
    components = schema["components"]["schemas"]
    missing = []
    for name in OURS - {"Error", "PaginatedStatementOutList"}:
        assert name in components, name
        for field, spec in components[name]["properties"].items():
            if "$ref" in spec or "allOf" in spec:
                continue
            if not spec.get("description"):
                missing.append(f"{name}.{field}")
            if not (spec.get("type") or spec.get("enum") or spec.get("oneOf")):
                missing.append(f"{name}.{field} (type)")
    assert missing == []


def test_money_is_a_string_with_two_decimals_and_calls_that_move_money_have_examples(schema):
    components = schema["components"]["schemas"]
    assert components["PurchaseOut"]["properties"]["amount"]["type"] == "string"
    assert components["PurchaseOut"]["properties"]["amount"]["pattern"].endswith(r"\.\d{2}$")
    assert components["PurchaseInRequest"]["properties"]["amount"]["type"] == "string"
    operations = {op["operationId"]: op for ops in schema["paths"].values() for op in ops.values()}
    for operation_id in MONEY_CALLS:
        body = operations[operation_id]["requestBody"]["content"]["application/json"]
        assert body.get("examples"), operation_id
    for operation_id in set(MONEY_CALLS) - {"quotes_create"}:
        headers = [p for p in operations[operation_id]["parameters"] if p["in"] == "header"]
        assert [(p["name"], p["required"]) for p in headers] == [("Idempotency-Key", True)], operation_id

"""Schemathesis against the live OpenAPI schema, in process (WSGI), on a seeded database.

For every operation it generates valid and invalid requests (a bounded number of examples), sends
them with a token holding every scope, and checks: no 500, every status and body as documented,
the error body on every refusal. Path ids are drawn half from the seeded database (so the calls reach
the services) and half from the generator (so unknown ids are tried too)."""
from __future__ import annotations

import datetime as dt
import uuid
from decimal import Decimal

import pytest
import schemathesis
from schemathesis.config import SchemathesisConfig
from django.core.wsgi import get_wsgi_application
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st

from installments.daily import run_through
from installments.models import Plan, Purchase
from installments.services import purchase_authorize
from tests.factories_api import api_for
from tests.factories_installments import SYSTEM, no_risk_checks, open_account  # noqa: F401

# A schema-valid request may still be refused by a business rule (422), name an id that does not exist
# (404) or conflict with an earlier one (409). Where a rule on the input cannot be said in the schema
# (the two consents an application needs; a payment date not in the future; a settlement reference
# already used; a date range the right way round), 400 is expected too. 401/403/429 and 5xx never are: the token holds every scope.
_ACCEPT = ["2xx", "404", "409", "422"]
# A NUL character anywhere in a path, query or body is refused by design (400 malformed_request: databases refuse
# NUL in text; issue 13), which the schema's types cannot say: tests/api/test_api_bounds.py checks it; here none is drawn.
CONFIG = SchemathesisConfig.from_dict({
    "generation": {"allow-x00": False},
    "checks": {"positive_data_acceptance": {"expected-statuses": _ACCEPT}},
    "operations": [
        {"include-path": path, "checks": {"positive_data_acceptance": {"expected-statuses": [*_ACCEPT, "400"]}}}
        for path in ("/api/v1/applications/", "/api/v1/repayments/", "/api/v1/plans/{id}/settle/",
                     "/api/v1/accounts/{id}/statements/")
    ],
})
SEEDED: dict[str, list[str]] = {}
TOKEN: dict[str, str] = {}


@pytest.fixture
def seeded(db, business_date):
    """Two accounts with revolving and installment purchases, a generated statement, open plans."""
    business_date("2026-01-05")
    accounts = [open_account(limit="50000.00", opened_on=dt.date(2026, 1, 1)) for _ in range(2)]
    for i, account in enumerate(accounts):
        purchase_authorize(account=account, amount=Decimal("3000.00"), merchant_order_id=f"seed-{i}-r", actor=SYSTEM)
        purchase_authorize(account=account, amount=Decimal("6000.00"), merchant_order_id=f"seed-{i}-i", tenor=12,
                           actor=SYSTEM)
    run_through(dt.date(2026, 2, 2))
    for i, account in enumerate(accounts):
        purchase_authorize(account=account, amount=Decimal("1200.00"), merchant_order_id=f"seed-{i}-p", tenor=6,
                           actor=SYSTEM)
    SEEDED.clear()
    SEEDED["account"] = [a.reference for a in accounts]
    SEEDED["purchase"] = list(Purchase.objects.values_list("reference", flat=True))
    SEEDED["plan"] = list(Plan.objects.values_list("reference", flat=True))
    SEEDED["statement"] = [f"{a.reference}-20260201" for a in accounts]
    # The fuzzing sends more than the default 1,200 calls a minute with one token (each new operation adds 15):
    # its clients get a rate of their own, so a 429 never stands in for an answer.
    TOKEN["raw"] = api_for(throttle_rate=FUZZ_RATE)[2]
    TOKEN["agency"] = _agency_token()
    return SEEDED


FUZZ_RATE = "100000/min"


def _agency_token() -> str:
    """A token of a collection agency's client, for the agency API (when the collections app has it)."""
    from debt_collection.models import Agency

    _, client, raw = api_for(["agency"], name="Schemathesis agency", throttle_rate=FUZZ_RATE)
    if any(f.name == "api_client" for f in Agency._meta.get_fields()):
        Agency.objects.create(name="Schemathesis agency", is_whitelisted=True, api_client=client)
    return raw


@pytest.fixture
def keep_test_connection():
    """Requests go through the real WSGI handler, whose request signals close the database connection
    (Django's test client disconnects them; do the same, or the test's transaction is lost)."""
    from django.core import signals
    from django.db import close_old_connections

    signals.request_started.disconnect(close_old_connections)
    signals.request_finished.disconnect(close_old_connections)
    yield
    signals.request_started.connect(close_old_connections)
    signals.request_finished.connect(close_old_connections)


@pytest.fixture
def api_schema(seeded, keep_test_connection):
    schema = schemathesis.openapi.from_wsgi("/api/schema/", get_wsgi_application(), config=CONFIG)

    @schema.hook
    def flatmap_path_parameters(context, path_parameters):
        if not path_parameters or "id" not in path_parameters:
            return st.just(path_parameters)
        path = context.operation.path
        kind = ("statement" if path.startswith("/api/v1/statements/") else
                "plan" if path.startswith("/api/v1/plans/") else
                "purchase" if path.startswith("/api/v1/purchases/") else
                "account" if path.startswith("/api/v1/accounts/") else None)
        if kind is None:
            return st.just(path_parameters)
        return st.one_of(st.just(path_parameters), st.sampled_from(SEEDED[kind]).map(lambda v: {**path_parameters, "id": v}))

    @schema.hook
    def map_headers(context, headers):
        headers = dict(headers or {})
        if "Idempotency-Key" in headers and headers["Idempotency-Key"].isascii():
            headers["Idempotency-Key"] = str(uuid.uuid4())
        return headers

    return schema


schema = schemathesis.pytest.from_fixture("api_schema")


@schema.parametrize()
@settings(max_examples=15, deadline=None, derandomize=True,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much, HealthCheck.function_scoped_fixture])
@pytest.mark.django_db
def test_api_conforms_to_its_schema(case):
    token = TOKEN["agency"] if case.operation.path.startswith("/api/v1/agency/") else TOKEN["raw"]
    case.call_and_validate(headers={"Authorization": f"Bearer {token}"})

"""The integration API never answers with personal data in clear: no response schema of the
OpenAPI document has a personal field (name, mobile, ID number, address, e-mail…) unless its
description says the value is masked, or it is a deliberate, justified disclosure listed here."""
from __future__ import annotations

from drf_spectacular.generators import SchemaGenerator

from privacy.registry import PERSONAL_FIELD_RE


def _response_components(schema: dict) -> dict[str, dict]:
    components = schema.get("components", {}).get("schemas", {})
    return {name: body for name, body in components.items() if not name.endswith("Request")}


def _personal_properties(schema: dict):
    for component, body in _response_components(schema).items():
        for prop, spec in (body.get("properties") or {}).items():
            if PERSONAL_FIELD_RE.search(prop):
                yield component, prop, spec


#: Deliberate disclosures in clear, each with its justification.
DISCLOSED = {
    "AgencyDebtor.name": "to the collection agency assigned the case, under the customer's agency-sharing "
                         "consent; every read is logged (collections agency API)",
    "AgencyDebtor.mobile": "same as the name",
}


def test_no_api_response_carries_personal_data_in_clear():
    schema = SchemaGenerator().get_schema(request=None, public=True)
    assert _response_components(schema), "the API documents its responses"
    unmasked = [
        f"{component}.{prop}" for component, prop, spec in _personal_properties(schema)
        if "mask" not in (spec.get("description") or "").lower() and f"{component}.{prop}" not in DISCLOSED
    ]
    assert unmasked == []


def test_the_check_sees_personal_fields():
    schema = {"components": {"schemas": {
        "Debtor": {"properties": {"mobile": {"type": "string"}, "name": {"description": "Masked name."}}},
        "DebtorRequest": {"properties": {"id_number": {"type": "string"}}},
    }}}
    assert [(c, p) for c, p, _ in _personal_properties(schema)] == [("Debtor", "mobile"), ("Debtor", "name")]

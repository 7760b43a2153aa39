"""A withdrawn consent is respected where it matters: marketing campaigns (risk) and sharing with a
collection agency (collections) read the latest consent record the withdrawal service writes."""
from __future__ import annotations

from accounts.models import CreditAccount
from privacy import services
from tests.factories_privacy import make_account, make_customer, staff_user  # noqa: F401 (fixture)


def test_withdrawn_agency_sharing_stops_agency_assignment(business_date, staff):
    from debt_collection.selectors import agency_sharing_consents

    customer, other = make_customer(), make_customer(2)
    assert agency_sharing_consents([customer.pk, other.pk]) == {customer.pk, other.pk}
    services.consent_withdraw(customer=customer, kind="agency_sharing", actor=staff, reason="customer letter")
    assert agency_sharing_consents([customer.pk, other.pk]) == {other.pk}


def test_withdrawn_marketing_consent_excludes_the_customer_from_campaigns(business_date, staff):
    from risk.selectors import marketing_consent_subquery

    customer, other = make_customer(), make_customer(2)
    mine, theirs = make_account(customer), make_account(other)

    def consenting():
        rows = CreditAccount.objects.annotate(marketing=marketing_consent_subquery()).filter(marketing=True)
        return set(rows.values_list("pk", flat=True))

    assert consenting() == {mine.pk, theirs.pk}
    services.consent_withdraw(customer=customer, kind="marketing", actor=staff, reason="app settings")
    assert consenting() == {theirs.pk}


def test_a_deletion_request_withdraws_every_consent(business_date, staff):
    from debt_collection.selectors import agency_sharing_consents

    customer = make_customer()
    services.customer_erase(customer=customer, actor=staff, reason="deletion request")
    assert agency_sharing_consents([customer.pk]) == set()

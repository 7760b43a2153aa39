"""Personal data at rest: the ID number is never stored in clear, look-ups go through the keyed
hash, and ``rotate_pii_keys`` re-encrypts everything under the newest key."""
from __future__ import annotations

import hashlib
import io

import pytest
from cryptography.fernet import Fernet, InvalidToken
from django.core.management import CommandError, call_command
from django.db import connection
from django.test import override_settings

from accounts.models import Customer
from accounts.selectors import customer_find_by_id_number
from core.crypto import pii_hash
from privacy.services import encrypted_fields, pii_keys_rotate
from tests.factories_privacy import WANG, make_customer

KEY_A = Fernet.generate_key().decode()
KEY_B = Fernet.generate_key().decode()
KEY_C = Fernet.generate_key().decode()


def raw_tokens() -> dict[int, str]:
    with connection.cursor() as cursor:
        cursor.execute("SELECT id, id_number FROM accounts_customer ORDER BY id")
        return dict(cursor.fetchall())


def every_value_in_the_database() -> str:
    """Every cell of every table, as one string (the test database is small)."""
    chunks = []
    with connection.cursor() as cursor:
        for table in connection.introspection.table_names(cursor):
            cursor.execute(f"SELECT * FROM {connection.ops.quote_name(table)}")  # noqa: S608 - table names from introspection
            chunks.extend(repr(row) for row in cursor.fetchall())
    return "\n".join(chunks)


def test_the_raw_database_holds_no_id_number_in_clear(business_date):
    from risk.services.applications import application_submit

    application_submit(name=WANG["name"], id_number=WANG["id_number"], mobile=WANG["mobile"],
                       consents=[("data_processing", "v1", True), ("credit_bureau", "v1", True)])
    customer = make_customer()
    token = raw_tokens()[customer.pk]
    assert WANG["id_number"] not in token and token.startswith("gAAAA")  # a Fernet token
    everything = every_value_in_the_database()
    assert WANG["id_number"] not in everything
    assert WANG["id_number"][:17] not in everything  # not even without the check digit
    # Only the keyed hash and the last 4 digits are stored beside the token.
    stored = Customer.objects.values("id_number_hash", "id_number_last4").get(pk=customer.pk)
    assert stored == {"id_number_hash": pii_hash(WANG["id_number"]), "id_number_last4": WANG["id_number"][-4:]}
    assert stored["id_number_hash"] != hashlib.sha256(WANG["id_number"].encode()).hexdigest()


def test_look_up_by_id_number_goes_through_the_keyed_hash(business_date):
    customer = make_customer()
    assert customer_find_by_id_number(WANG["id_number"]) == customer
    assert customer_find_by_id_number(f"  {WANG['id_number'].lower()} ") == customer
    assert customer_find_by_id_number(make_customer(n=7).id_number) != customer
    with override_settings(PII_HASH_KEY="another-hash-key-of-at-least-32-characters"):
        assert customer_find_by_id_number(WANG["id_number"]) is None  # the hash is keyed


def test_every_encrypted_field_is_found_by_the_rotation():
    labels = {f"{m._meta.label}.{f.name}" for m, f in encrypted_fields()}
    assert {"accounts.Customer.id_number", "risk.Application.id_number"} <= labels


@pytest.mark.parametrize("chunk_size", [1, 2, 500], ids=["chunk-1", "chunk-2", "chunk-500"])
def test_rotation_re_encrypts_under_the_newest_key_and_everything_still_decrypts(business_date, chunk_size):
    from risk.models import Application
    from risk.services.applications import application_submit

    with override_settings(FIELD_ENCRYPTION_KEYS=[KEY_A]):
        customers = [make_customer(n) for n in range(1, 6)]
        numbers = {c.pk: c.id_number for c in customers}
        application = application_submit(name=WANG["name"], id_number=WANG["id_number"], mobile=WANG["mobile"],
                                          consents=[("data_processing", "v1", True), ("credit_bureau", "v1", True)])
    before = raw_tokens()
    assert all(Fernet(KEY_A).decrypt(t.encode()).decode() == numbers[pk] for pk, t in before.items())

    with override_settings(FIELD_ENCRYPTION_KEYS=[KEY_B, KEY_A]):
        # Before the rotation both keys read the data; new writes use KEY_B.
        assert {c.pk: c.id_number for c in Customer.objects.all()} == numbers
        out = io.StringIO()
        call_command("rotate_pii_keys", chunk_size=chunk_size, stdout=out)
        assert "accounts.Customer.id_number: 5 re-encrypted, 0 already current, 0 undecryptable" in out.getvalue()
        assert "risk.Application.id_number: 1 re-encrypted" in out.getvalue()

    after = raw_tokens()
    for pk, token in after.items():
        assert token != before[pk]
        assert Fernet(KEY_B).decrypt(token.encode()).decode() == numbers[pk]
        with pytest.raises(InvalidToken):
            Fernet(KEY_A).decrypt(token.encode())

    with override_settings(FIELD_ENCRYPTION_KEYS=[KEY_B]):  # the old key is gone
        assert {c.pk: c.id_number for c in Customer.objects.all()} == numbers
        assert Application.objects.get(pk=application.pk).id_number == WANG["id_number"]
        assert customer_find_by_id_number(numbers[customers[2].pk]) == customers[2]
        # Idempotent: a second run changes nothing.
        assert pii_keys_rotate(chunk_size=chunk_size)["accounts.Customer.id_number"] == {
            "rotated": 0, "current": 5, "undecryptable": 0}
    assert raw_tokens() == after


def test_rotation_with_a_missing_key_changes_nothing_and_fails(business_date):
    with override_settings(FIELD_ENCRYPTION_KEYS=[KEY_A]):
        make_customer(1)
        make_customer(2)
    before = raw_tokens()
    with override_settings(FIELD_ENCRYPTION_KEYS=[KEY_C]):  # KEY_A removed too early
        with pytest.raises(CommandError, match="2 value"):
            call_command("rotate_pii_keys", stdout=io.StringIO())
    assert raw_tokens() == before


def test_rotation_needs_configured_keys(business_date):
    with override_settings(FIELD_ENCRYPTION_KEYS=[]):
        with pytest.raises(CommandError, match="FIELD_ENCRYPTION_KEYS"):
            call_command("rotate_pii_keys")


def test_rotation_skips_erased_values(business_date):
    with override_settings(FIELD_ENCRYPTION_KEYS=[KEY_A]):
        customer = make_customer(1)
        Customer.objects.filter(pk=customer.pk).update(id_number="")
    with override_settings(FIELD_ENCRYPTION_KEYS=[KEY_B, KEY_A]):
        assert pii_keys_rotate()["accounts.Customer.id_number"] == {"rotated": 0, "current": 0, "undecryptable": 0}
    assert raw_tokens()[customer.pk] == ""

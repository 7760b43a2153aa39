import pytest

from accounts.models import Customer
from accounts.selectors import customer_find_by_id_number
from accounts.services import customer_create
from core.errors import ConflictError, ValidationError


@pytest.mark.parametrize("id_number", ["11010519491231002X", "440524188001010014", "11010519491231002x"])
def test_valid_id_numbers_create_a_customer(db, id_number):
    customer = customer_create(name="张三", id_number=id_number, mobile="13800138000")
    assert customer.id_number == id_number.upper()
    assert customer_find_by_id_number(id_number) == customer


@pytest.mark.parametrize(
    "id_number, code",
    [
        ("110105194912310021", "id_number_check_digit"),
        ("11010519491231002", "id_number_length"),
        ("1101051949123100211", "id_number_length"),
        ("110105194902300025", "id_number_birth_date"),
        ("11010519491231A02X", "id_number_characters"),
        ("011010519491231002", "id_number_characters"),
    ],
    ids=["wrong-check-digit", "too-short", "too-long", "feb-30", "letters", "leading-zero"],
)
def test_bad_id_numbers_are_refused_and_create_nothing(db, id_number, code):
    with pytest.raises(ValidationError) as err:
        customer_create(name="张三", id_number=id_number, mobile="13800138000")
    assert err.value.code == code
    assert Customer.objects.count() == 0


@pytest.mark.parametrize("mobile", ["12800138000", "1380013800", "138001380001", "1380013800a", ""])
def test_bad_mobiles_are_refused_and_create_nothing(db, mobile):
    with pytest.raises(ValidationError) as err:
        customer_create(name="张三", id_number="11010519491231002X", mobile=mobile)
    assert err.value.code == "mobile_invalid"
    assert Customer.objects.count() == 0


def test_duplicate_id_number_is_a_conflict(db):
    customer_create(name="张三", id_number="11010519491231002X", mobile="13800138000")
    with pytest.raises(ConflictError):
        customer_create(name="李四", id_number="11010519491231002x", mobile="13900139000")
    assert Customer.objects.count() == 1


def test_id_number_is_encrypted_at_rest(db):
    from django.db import connection

    customer_create(name="张三", id_number="11010519491231002X", mobile="13800138000")
    with connection.cursor() as cur:
        cur.execute("SELECT id_number FROM accounts_customer")
        raw = cur.fetchone()[0]
    assert "11010519491231002X" not in raw

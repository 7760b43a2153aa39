"""Two concurrent limit changes on one account (PostgreSQL, real threads and connections)."""
import threading
from decimal import Decimal

import pytest
from django.db import connection

from accounts.models import CreditAccount, LimitChange
from accounts.services import account_change_fixed_limit
from core.actors import Actor
from tests.factories import CreditAccountFactory


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_two_concurrent_limit_changes_leave_a_consistent_result(business_date):
    account = CreditAccountFactory(fixed_limit=Decimal("1000.00"))
    barrier = threading.Barrier(2)
    errors = []

    def change(new_limit):
        try:
            barrier.wait()
            account_change_fixed_limit(account=account, new_limit=new_limit, actor=Actor.system("t"), reason="race")
        except Exception as exc:  # pragma: no cover - reported below
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=change, args=(Decimal(v),)) for v in ("2000", "3000")]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    account.refresh_from_db()
    changes = list(LimitChange.objects.filter(account=account).order_by("id"))
    assert len(changes) == 2
    # serialised: the second change's "old" is the first change's "new", and the account ends on the last
    assert changes[0].old_limit == Decimal("1000.00")
    assert changes[1].old_limit == changes[0].new_limit
    assert account.fixed_limit == changes[1].new_limit
    assert CreditAccount.objects.filter(pk=account.pk).count() == 1

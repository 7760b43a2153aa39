"""``sql.insert_objects``: the bulk insert of the close-of-business steps (reminders, their messages,
notices) — ``COPY`` on PostgreSQL, multi-row ``INSERT`` elsewhere — stores every value as the ORM would,
sets the primary keys, stamps ``auto_now`` columns and, asked to, skips rows that break a unique
constraint (as ``bulk_create(ignore_conflicts=True)``)."""
from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

import pytest
from django.utils import timezone

from core import sql
from notices.models import Notice, NoticeKind
from tests.factories_installments import open_account

SH = ZoneInfo("Asia/Shanghai")
AWKWARD = "tab\there, new\nline, back\\slash, 'quote', \"double\", 中文 ¥1,234.50, \\N, NULL"


def notice(account, key: str, **fields) -> Notice:
    return Notice(customer=account.customer, account=account, kind=NoticeKind.STATEMENT_ISSUED, event_key=key,
                  for_date=dt.date(2026, 3, 13), channel="sms", recipient=account.customer.mobile or "",
                  scheduled_for=dt.datetime(2026, 3, 14, 8, 0, tzinfo=SH), **fields)


@pytest.mark.django_db
def test_rows_are_stored_as_the_orm_would_and_get_their_keys(business_date):
    account = open_account(limit="5000.00")
    before = timezone.now()
    objs = [notice(account, f"statement:{n}", subject=f"subject {n}", body=AWKWARD if n == 1 else "")
            for n in range(1, 2502)]
    sql.insert_objects(objs)
    assert [o.pk for o in objs] == sorted(o.pk for o in objs) and None not in {o.pk for o in objs}
    assert all(not o._state.adding for o in objs)
    assert Notice.objects.count() == 2501
    stored = Notice.objects.get(pk=objs[0].pk)
    assert stored.event_key == "statement:1" and stored.body == AWKWARD and stored.subject == "subject 1"
    assert stored.scheduled_for == dt.datetime(2026, 3, 14, 8, 0, tzinfo=SH)
    assert stored.for_date == dt.date(2026, 3, 13)
    assert stored.reference == objs[0].reference and stored.reference  # the model's default, kept
    assert stored.sent_at is None and stored.status == Notice.Status.QUEUED
    assert stored.created_at >= before and stored.updated_at >= before
    assert Notice.objects.get(pk=objs[-1].pk).event_key == "statement:2501"
    # the sequence moved past the keys given: the ORM's next row gets a new one
    assert Notice.objects.create(**{f.attname: getattr(notice(account, "statement:x"), f.attname)
                                    for f in Notice._meta.concrete_fields if not f.primary_key}).pk > objs[-1].pk


@pytest.mark.django_db
def test_ignore_conflicts_keeps_the_row_already_there(business_date):
    account = open_account(limit="5000.00")
    first = [notice(account, "statement:1", body="first"), notice(account, "statement:2", body="first")]
    sql.insert_objects(first)
    again = [notice(account, "statement:2", body="second"), notice(account, "statement:3", body="second")]
    sql.insert_objects(again, ignore_conflicts=True)
    assert sorted(Notice.objects.values_list("event_key", "body")) == [
        ("statement:1", "first"), ("statement:2", "first"), ("statement:3", "second")]
    sql.insert_objects(again, ignore_conflicts=True)  # twice: nothing more (the staging table is emptied)
    assert Notice.objects.count() == 3


@pytest.mark.django_db
def test_without_ignore_conflicts_a_duplicate_fails(business_date):
    from django.db import IntegrityError, transaction

    account = open_account(limit="5000.00")
    sql.insert_objects([notice(account, "statement:1")])
    with pytest.raises(IntegrityError), transaction.atomic():
        sql.insert_objects([notice(account, "statement:2"), notice(account, "statement:1")])
    assert Notice.objects.count() == 1


def test_nothing_to_insert_does_nothing():
    sql.insert_objects([])

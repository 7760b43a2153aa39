"""Idempotency-Key mechanics (integrations.idempotency) on a test view that writes to the database.

The money-moving calls themselves are covered by tests/api/test_api_engine.py; here: replay byte for byte,
mismatch, what is and is not stored, crashes, expiry, take-over of a dead request, and the race of two
concurrent requests with the same key on PostgreSQL (real threads, real connections)."""
from __future__ import annotations

import datetime as dt
import threading
import time

import pytest
from django.db import connection
from django.urls import path
from django.utils import timezone
from rest_framework.response import Response
from rest_framework.views import APIView

from core.actors import Actor
from core.catalogue import catalogue
from core.audit import audit_record
from core.errors import BusinessRuleError
from core.models import AuditEvent
from integrations.idempotency import fingerprint, idempotent
from integrations.models import IdempotencyRecord
from integrations.services import idempotency_records_purge
from tests.factories_api import api_for

pytestmark = pytest.mark.urls(__name__)
URL = "/test/money/"
_gate = {"event": None}


class MoneyView(APIView):
    required_scopes = ()

    @idempotent
    def post(self, request):
        data = request.data if isinstance(request.data, dict) else {}
        if "amount" not in data:
            from rest_framework.exceptions import ValidationError

            raise ValidationError({"amount": ["This field is required."]})
        if _gate["event"] is not None:
            _gate["event"].wait(5)
        event = audit_record(actor=Actor.system("test"), action="money", obj=AuditEvent(pk=0), new=data)
        if data.get("refuse"):
            raise BusinessRuleError("Not enough limit.", code="insufficient_limit", details={"event": event.pk})
        if data.get("crash"):
            raise RuntimeError("boom")
        return Response({"event": event.pk, "amount": data["amount"], "at": time.monotonic_ns()}, status=201)


urlpatterns = [path("test/money/", MoneyView.as_view())]
# The test view's own audit action, declared as every app declares its own (core.catalogue).
catalogue("tests.api_idempotency", audit={"money": "The test view's write."})


def events() -> int:
    return AuditEvent.objects.filter(action="money").count()


@pytest.fixture
def http(db):
    return api_for([])[0]


def post(http, body, key="key-1", **extra):
    headers = {"HTTP_IDEMPOTENCY_KEY": key} if key is not None else {}
    return http.post(URL, body, format="json", **headers, **extra)


@pytest.mark.django_db
def test_replay_returns_the_first_response_byte_for_byte(http):
    first = post(http, {"amount": "10.00"})
    again = post(http, {"amount": "10.00"})

    assert first.status_code == again.status_code == 201
    assert again.content == first.content
    assert again["Content-Type"] == first["Content-Type"]
    assert again["Idempotent-Replayed"] == "true"
    assert "Idempotent-Replayed" not in first
    assert events() == 1
    record = IdempotencyRecord.objects.get()
    assert record.status == "completed" and record.response_status == 201 and bytes(record.response_body) == first.content


@pytest.mark.django_db
def test_same_body_with_other_key_order_and_spacing_replays(http):
    first = http.post(URL, '{"amount": "10.00", "note": "x"}', content_type="application/json", HTTP_IDEMPOTENCY_KEY="k")
    again = http.post(URL, '{ "note":"x","amount":"10.00" }', content_type="application/json", HTTP_IDEMPOTENCY_KEY="k")

    assert again.content == first.content and again["Idempotent-Replayed"] == "true"
    assert events() == 1


@pytest.mark.django_db
def test_same_key_different_body_is_422_and_changes_nothing(http):
    first = post(http, {"amount": "10.00"})
    record = IdempotencyRecord.objects.values().get()

    response = post(http, {"amount": "11.00"})

    assert response.status_code == 422
    error = response.json()["error"]
    assert error["code"] == "idempotency_key_reuse"
    assert error["details"] == {"key": "key-1", "first_request": f"POST {URL}"}
    assert events() == 1
    assert IdempotencyRecord.objects.values().get() == record
    assert post(http, {"amount": "10.00"}).content == first.content


@pytest.mark.django_db
def test_keys_are_per_client(http):
    other = api_for([])[0]

    post(http, {"amount": "10.00"})
    response = post(other, {"amount": "99.00"})

    assert response.status_code == 201 and "Idempotent-Replayed" not in response
    assert events() == 2
    assert IdempotencyRecord.objects.count() == 2


@pytest.mark.django_db
@pytest.mark.parametrize(
    "key, code",
    [(None, "idempotency_key_required"), ("", "idempotency_key_required"), ("has space", "idempotency_key_invalid"),
     ("x" * 256, "idempotency_key_invalid")],
    ids=["missing", "empty", "space", "too-long"],
)
def test_key_is_required_and_checked(http, key, code):
    response = post(http, {"amount": "10.00"}, key=key)

    assert response.status_code == 400
    assert response.json()["error"]["code"] == code
    assert events() == 0 and IdempotencyRecord.objects.count() == 0


@pytest.mark.django_db
def test_business_refusal_is_stored_and_replayed(http):
    first = post(http, {"amount": "10.00", "refuse": True})
    again = post(http, {"amount": "10.00", "refuse": True})

    assert first.status_code == again.status_code == 422
    assert first.json()["error"]["code"] == "insufficient_limit"
    assert again.content == first.content and again["Idempotent-Replayed"] == "true"


@pytest.mark.django_db
def test_validation_error_is_not_stored_so_the_key_can_be_used_again(http):
    invalid = post(http, {"nothing": 1})
    fixed = post(http, {"amount": "10.00"})

    assert invalid.status_code == 400
    assert fixed.status_code == 201 and "Idempotent-Replayed" not in fixed
    assert events() == 1


@pytest.mark.django_db
def test_a_crash_rolls_back_and_releases_the_key(http):
    with pytest.raises(RuntimeError):
        post(http, {"amount": "10.00", "crash": True})

    assert events() == 0  # the write of the crashed request was rolled back
    assert IdempotencyRecord.objects.count() == 0
    assert post(http, {"amount": "10.00", "crash": False}, key="key-1").status_code == 201


@pytest.mark.django_db
def test_in_flight_key_is_409_and_runs_nothing(db):
    http, client, _ = api_for([])
    IdempotencyRecord.objects.create(
        owner=f"client:{client.pk}", key="key-1", method="POST", path=URL,
        fingerprint=fingerprint("POST", URL, b'{"amount":"10.00"}'), locked_at=timezone.now(),
        expires_at=timezone.now() + dt.timedelta(hours=24),
    )

    response = post(http, {"amount": "10.00"})

    assert response.status_code == 409
    assert response.json()["error"]["code"] == "idempotency_in_progress"
    assert events() == 0
    assert IdempotencyRecord.objects.get().status == "in_progress"


@pytest.mark.django_db
def test_a_dead_request_is_taken_over_after_the_lock_timeout(http, settings):
    settings.API_IDEMPOTENCY_LOCK_SECONDS = 60
    post(http, {"amount": "10.00"})
    record = IdempotencyRecord.objects.get()
    AuditEvent.objects.filter(action="money").delete()  # the dead request committed nothing
    IdempotencyRecord.objects.filter(pk=record.pk).update(
        status="in_progress", response_status=None, completed_at=None, response_body=None,
        locked_at=timezone.now() - dt.timedelta(seconds=61),
    )

    response = post(http, {"amount": "10.00"})

    assert response.status_code == 201 and "Idempotent-Replayed" not in response
    assert events() == 1
    assert IdempotencyRecord.objects.get().status == "completed"


@pytest.mark.django_db
def test_records_are_kept_at_least_24_hours_then_purged(http, settings):
    settings.API_IDEMPOTENCY_TTL_HOURS = 1  # below the floor: 24 h still apply
    post(http, {"amount": "10.00"})
    record = IdempotencyRecord.objects.get()
    assert record.expires_at - record.created_at >= dt.timedelta(hours=24) - dt.timedelta(seconds=5)

    assert idempotency_records_purge(now=record.created_at + dt.timedelta(hours=23)) == 0
    assert idempotency_records_purge(now=record.expires_at + dt.timedelta(seconds=1)) == 1
    assert IdempotencyRecord.objects.count() == 0


@pytest.mark.django_db
def test_an_expired_key_starts_afresh(http):
    post(http, {"amount": "10.00"})
    IdempotencyRecord.objects.update(expires_at=timezone.now() - dt.timedelta(seconds=1))

    response = post(http, {"amount": "12.00"})

    assert response.status_code == 201 and "Idempotent-Replayed" not in response
    assert events() == 2


def test_fingerprint_depends_on_method_path_and_canonical_body():
    base = fingerprint("POST", "/a/", b'{"x": 1, "y": 2}')
    assert base == fingerprint("POST", "/a/", b'{"y":2,"x":1}')
    assert base != fingerprint("POST", "/b/", b'{"x": 1, "y": 2}')
    assert base != fingerprint("PUT", "/a/", b'{"x": 1, "y": 2}')
    assert base != fingerprint("POST", "/a/", b'{"x": 1, "y": 3}')
    assert fingerprint("POST", "/a/", b"not json") != fingerprint("POST", "/a/", b"not json!")


# --- concurrency (PostgreSQL: real connections and row-level blocking) ---------------------


def _race(http_clients, bodies, *, hold: float = 0.4):
    """Fire one request per client at once, with the view held open ``hold`` seconds."""
    gate = threading.Event()
    _gate["event"] = gate
    barrier = threading.Barrier(len(http_clients))
    results = [None] * len(http_clients)

    def run(i):
        try:
            barrier.wait(5)
            results[i] = post(http_clients[i], bodies[i], key="race")
        finally:
            connection.close()

    threads = [threading.Thread(target=run, args=(i,)) for i in range(len(http_clients))]
    for t in threads:
        t.start()
    time.sleep(hold)
    gate.set()
    for t in threads:
        t.join(10)
    _gate["event"] = None
    return results


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_concurrent_requests_with_the_same_key_run_once():
    http, client, raw = api_for([])
    from rest_framework.test import APIClient

    clients = []
    for _ in range(6):
        c = APIClient()
        c.credentials(HTTP_AUTHORIZATION=f"Bearer {raw}")
        clients.append(c)

    results = _race(clients, [{"amount": "10.00"}] * 6)

    statuses = sorted(r.status_code for r in results)
    assert statuses == [201, 409, 409, 409, 409, 409], [r.content for r in results]
    assert all(r.json()["error"]["code"] == "idempotency_in_progress" for r in results if r.status_code == 409)
    assert events() == 1
    winner = next(r for r in results if r.status_code == 201)
    replay = post(clients[0], {"amount": "10.00"}, key="race")
    assert replay.content == winner.content and replay["Idempotent-Replayed"] == "true"
    assert events() == 1


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_concurrent_same_key_different_bodies_only_one_runs():
    _, _, raw = api_for([])
    from rest_framework.test import APIClient

    clients = []
    for _ in range(4):
        c = APIClient()
        c.credentials(HTTP_AUTHORIZATION=f"Bearer {raw}")
        clients.append(c)

    results = _race(clients, [{"amount": f"{i}.00"} for i in range(1, 5)])

    statuses = [r.status_code for r in results]
    assert statuses.count(201) == 1
    assert all(s in (409, 422) for s in statuses if s != 201)
    assert events() == 1

"""Load test of the integration API (issue 7) — a benchmark, not a test.

    .venv/bin/python bench/api.py [--seconds 45] [--users 50] [--accounts 1000] [--workers 4]
                                  [--worker-class sync|gthread] [--threads 2]

1. Creates a fresh PostgreSQL database (``bench_api`` on 127.0.0.1:5432 unless ``BENCH_DATABASE_URL``),
   migrates it and seeds ``--accounts`` credit lines (fixed limit 5,000.00 each) and one API client.
   Then profiles ONE purchase authorisation in this process through the same view and services (after a
   warm-up purchase): its queries grouped by phase (token look-up, idempotency record, account lock, risk
   rules, journal, …) with their database time, and the wall time; then 50 more for the CPU milliseconds
   one authorisation costs in the Django process.
2. Starts gunicorn (``--workers`` sync workers) on a free loopback port.
3. Runs locust headless on loopback: ``--users`` concurrent clients for ``--seconds`` seconds, each in a
   closed loop of purchase authorisations (70 %; a third of them on ten "hot" accounts, which run out of
   limit under concurrent purchases) and repayments (30 %) on random accounts, every call
   with its own ``Idempotency-Key``; one call in ten is sent twice (a client retry: same key and body),
   and one repayment in ten is sent again under a *new* key with the same ``external_ref`` (a retry by
   a client that lost its key).
4. Prints requests/s, p50/p95/p99 latency, errors, then checks the database: no account above its
   limit, no repayment reference posted twice, every replay answered with the first response, and the
   books balanced, and the CPU spent per request during the load by gunicorn's workers, PostgreSQL,
   locust and the whole machine (``/proc``), with the mean latency the throughput implies for the closed
   loop of ``--users`` clients (Little's law). Exits 1 when any check fails. The last line holds the
   figures: requests/s, purchases/s, p50/p99, queries per purchase, the CPU figures, the integrity counts and the load average
   (1/5/15 min) right after the load and at the end.

Expected refusals are not errors: a declined purchase (422 with its reason codes: ``insufficient_limit``
when the line is used up, or a risk rule such as ``purchase_velocity`` on a hot account), a repayment
refused with 422 ``repayment_above_outstanding`` (a random amount on an account that owes less), and 200
(a retried merchant order or repayment reference answered with the first result).

The same file is the locustfile: ``BENCH_ROLE=locust`` makes it define the simulated client.
"""
from __future__ import annotations

import argparse
import csv
import json
import os
import random
import resource
import shutil
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
VENV_BIN = Path(sys.executable).parent

if os.environ.get("BENCH_ROLE") == "locust":
    from locust import FastHttpUser, constant, events, task

    ACCOUNTS = json.loads(os.environ["BENCH_ACCOUNTS"])
    TOKEN = os.environ["BENCH_TOKEN"]
    REPLAY_LOG = os.environ["BENCH_REPLAY_LOG"]
    _replays: list[dict] = []

    def _expected_refusal(name: str, text: str | None) -> bool:
        text = text or ""
        if name.startswith("POST /api/v1/purchases/"):
            return '"reason_codes"' in text
        return name.startswith("POST /api/v1/repayments/") and '"repayment_above_outstanding"' in text

    class StorefrontClient(FastHttpUser):
        wait_time = constant(0)

        def _post(self, name: str, path: str, body: dict, key: str):
            headers = {"Authorization": f"Bearer {TOKEN}", "Idempotency-Key": key, "Content-Type": "application/json"}
            with self.client.post(path, data=json.dumps(body), headers=headers, name=name, catch_response=True) as r:
                # A declined purchase (insufficient limit, or a risk rule such as purchase velocity on a hot
                # account) is an answer, not an error: it is recorded with its reason codes. So is a repayment
                # refused because it is more than the account owes (random amounts on random accounts).
                ok = r.status_code in (200, 201, 202) or (r.status_code == 422 and _expected_refusal(name, r.text))
                if ok:
                    r.success()
                else:
                    r.failure(f"{r.status_code} {(r.text or '')[:120]}")
                return r

        def _maybe_replay(self, name, path, body, key, first):
            if random.random() < 0.10:
                again = self._post(f"{name} (replay)", path, body, key)
                _replays.append({
                    "same": again.content == first.content and again.status_code == first.status_code,
                    "header": again.headers.get("Idempotent-Replayed") == "true",
                    "status": first.status_code,
                })

        @task(7)
        def purchase(self):
            # A third of the purchases hit ten "hot" accounts, so concurrent authorisations race for the
            # same line and run it out: the limit check under contention is what is being measured.
            hot = random.random() < 0.33
            account = random.choice(ACCOUNTS[:10]) if hot else random.choice(ACCOUNTS)
            cents = random.randint(50000, 150000) if hot else random.randint(100, 60000)
            body = {"account": account, "amount": f"{cents / 100:.2f}",
                    "merchant_order_id": uuid.uuid4().hex[:20]}
            if random.random() < 0.3:
                body["tenor"] = random.choice([3, 6, 12, 24])
            key = str(uuid.uuid4())
            first = self._post("POST /api/v1/purchases/", "/api/v1/purchases/", body, key)
            self._maybe_replay("POST /api/v1/purchases/", "/api/v1/purchases/", body, key, first)

        @task(3)
        def repayment(self):
            body = {"account": random.choice(ACCOUNTS), "amount": f"{random.randint(100, 30000) / 100:.2f}",
                    "external_ref": uuid.uuid4().hex, "channel": random.choice(["bank_transfer", "card", "wallet"])}
            key = str(uuid.uuid4())
            first = self._post("POST /api/v1/repayments/", "/api/v1/repayments/", body, key)
            self._maybe_replay("POST /api/v1/repayments/", "/api/v1/repayments/", body, key, first)
            if random.random() < 0.10:  # the same payment again under a new key: must not post twice
                self._post("POST /api/v1/repayments/ (same ref, new key)", "/api/v1/repayments/", body, str(uuid.uuid4()))

    @events.quitting.add_listener
    def _dump_replays(environment, **kwargs):
        Path(REPLAY_LOG).write_text(json.dumps(_replays))


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _django(database_url: str):
    os.environ["DATABASE_URL"] = database_url
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "backoffice.settings")
    sys.path.insert(0, str(ROOT))
    import django

    django.setup()


def _recreate_database(database_url: str) -> None:
    import psycopg

    name = database_url.rsplit("/", 1)[1]
    admin_url = database_url.rsplit("/", 1)[0] + "/postgres"
    with psycopg.connect(admin_url, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{name}"')


#: Accounts kept out of the load for the in-process profile (a few purchases each: under the velocity rule).
PROFILE_ACCOUNTS = 20


def seed(n_accounts: int) -> tuple[list[str], str]:
    import datetime as dt
    from decimal import Decimal

    from django.core.management import call_command

    call_command("migrate", verbosity=0, interactive=False)
    from accounts.models import CreditProduct
    from accounts.services import account_open, customer_create
    from core.actors import Actor
    from core.business_date import set_business_date
    from core.identity import make_id_number
    from integrations import services as api_services

    set_business_date(dt.date(2026, 3, 16))
    product = CreditProduct.objects.get(code="baitiao")
    actor = Actor.system("bench")
    refs = []
    for n in range(n_accounts + PROFILE_ACCOUNTS):  # the last ones are for the profile (not in the load)
        customer = customer_create(
            name=f"压测{n}", id_number=make_id_number("110105", dt.date(1980, 1, 1) + dt.timedelta(days=n // 900), n % 900),
            mobile=f"139{n:08d}",
        )
        refs.append(account_open(customer=customer, product=product, fixed_limit=Decimal("5000.00"), actor=actor,
                                 opened_on=dt.date(2026, 1, 1)).reference)
    client = _bench_client(actor)
    _, raw = api_services.api_token_issue(client=client, actor=actor)
    return refs, raw


def _bench_client(actor):
    """The storefront client with every scope; the money-moving ones granted as the product grants them
    (issue 23): an administrator asks, a person of the approving role approves."""
    from django.contrib.auth import get_user_model
    from django.contrib.auth.models import Group

    from approvals.models import ApprovalRequest
    from approvals.services import approval_approve
    from core.actors import Actor
    from integrations import services as api_services
    from integrations.scope_controls import is_money_moving, money_scope
    from integrations.scopes import all_scopes
    from staff.roles import role

    def person(role_name: str, username: str):
        user, created = get_user_model().objects.get_or_create(username=username, defaults={"is_staff": True})
        if created:
            user.set_unusable_password()
            user.save(update_fields=["password"])
            user.groups.add(Group.objects.get(name=role_name))
        return user

    scopes = sorted(all_scopes())
    client = api_services.api_client_create(name="bench storefront", scopes=[s for s in scopes if not is_money_moving(s)],
                                            actor=actor, throttle_rate="9999999/min")
    maker = person("Administrator", "bench-maker")
    for scope in (s for s in scopes if is_money_moving(s)):
        grant = api_services.api_scope_request(client=client, scope=scope, actor=Actor.staff(maker), reason="benchmark")
        checker = role(money_scope(scope).approver_roles[0])
        approval_approve(approval=ApprovalRequest.objects.get(reference=grant.approval_reference),
                         user=person(checker.name, f"bench-{checker.key}"))
    client.refresh_from_db()
    return client


#: Which part of the authorisation a query belongs to (first match on its SQL), for the profile.
PHASES = (
    ("token look-up", ("integrations_apitoken",)),
    ("idempotency record", ("integrations_idempotencyrecord",)),
    ("account lock", ("FOR UPDATE",)),
    ("risk rules", ("risk_",)),
    ("journal", ("ledger_journal",)),
    ("purchase, plan, schedule", ("installments_purchase", "installments_plan", "installments_historicalplan",
                                  "installments_scheduleline")),
    ("limits, terms, business date", ("accounts_temporarylimit", "installments_productterms", "installments_tenorrate",
                                      "core_businessdate", "accounts_creditproduct")),
    ("account reads and update", ("accounts_creditaccount",)),
    ("transaction control", ("SAVEPOINT", "BEGIN", "COMMIT", "ROLLBACK")),
)


def profile_one_purchase(profile_accounts: list[str], token: str, *, repeat: int = 50) -> tuple[int, float]:
    """One authorisation in this process through the real stack (DRF client, same view and services),
    before the load: its queries by phase with their database time, and the wall time; then ``repeat``
    more on the same account for the CPU this process spends on one (Python: Django, DRF, the services;
    not the database server's). Returns the number of queries and the CPU milliseconds."""
    import uuid as _uuid

    from django.db import connection
    from django.test.utils import CaptureQueriesContext
    from rest_framework.test import APIClient

    http = APIClient()
    http.credentials(HTTP_AUTHORIZATION=f"Bearer {token}")

    def buy(order: str, account: str = profile_accounts[0]):
        body = {"account": account, "amount": "10.00", "merchant_order_id": order}
        return http.post("/api/v1/purchases/", body, format="json", HTTP_IDEMPOTENCY_KEY=str(_uuid.uuid4()),
                         SERVER_NAME="127.0.0.1")

    buy("profile-warm-up")  # first request of the process: imports, connection, caches
    started = time.perf_counter()
    with CaptureQueriesContext(connection) as ctx:
        response = buy("profile-1")
    wall = time.perf_counter() - started
    if response.status_code != 201:
        raise RuntimeError(f"profiled purchase answered {response.status_code}: {response.content[:200]!r}")
    captured = list(ctx.captured_queries)  # now: the next request through the client resets Django's query log
    phases: dict[str, list[float]] = {}
    for query in captured:
        name = next((n for n, marks in PHASES if any(m in query["sql"] for m in marks)), "other")
        phases.setdefault(name, []).append(float(query["time"]))
    print(f"one purchase authorisation (in process): {len(captured)} queries, {wall * 1000:.1f} ms wall, "
          f"{sum(sum(t) for t in phases.values()) * 1000:.1f} ms in the database")
    for name, times in sorted(phases.items(), key=lambda item: -len(item[1])):
        print(f"  {name:32} {len(times):3} queries {sum(times) * 1000:7.1f} ms")
    cpu_started, wall_started = time.process_time(), time.perf_counter()
    for n in range(repeat):
        response = buy(f"profile-cpu-{n}", profile_accounts[1 + n % (len(profile_accounts) - 1)])
        if response.status_code != 201:
            raise RuntimeError(f"profiled purchase answered {response.status_code}: {response.content[:200]!r}")
    cpu_ms = (time.process_time() - cpu_started) * 1000 / repeat
    print(f"  {repeat} more in a row: {cpu_ms:.1f} ms CPU in this process and "
          f"{(time.perf_counter() - wall_started) * 1000 / repeat:.1f} ms wall per authorisation")
    connection.close()
    return len(captured), cpu_ms


def _cpu_seconds(*, pgid: int | None = None, command: str | None = None) -> float:
    """User + system CPU seconds of every live process in the process group ``pgid`` (gunicorn's) or
    named ``command`` (``postgres``: the server and its backends)."""
    tick = os.sysconf("SC_CLK_TCK")
    total = 0
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            name, rest = Path(f"/proc/{entry}/stat").read_text().split(" (", 1)[1].rsplit(")", 1)
        except (OSError, ValueError):
            continue
        fields = rest.split()  # after the name: state, ppid, pgrp, …, utime (12), stime (13)
        if (pgid is not None and int(fields[2]) == pgid) or (command is not None and name == command):
            total += int(fields[11]) + int(fields[12])
    return total / tick


def _children_cpu_seconds() -> float:
    """CPU seconds of this process's finished (waited-for) children: locust, once it has exited."""
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def _machine_busy_seconds() -> float:
    """CPU seconds every core spent busy since boot (all processes: this bench's and anyone else's)."""
    values = [int(v) for v in Path("/proc/stat").read_text().splitlines()[0].split()[1:]]
    idle = values[3] + values[4]  # idle + iowait
    return (sum(values[:8]) - idle) / os.sysconf("SC_CLK_TCK")


def _warm_up(port: int, token: str, account: str, *, requests: int) -> None:
    """A few reads so every worker has opened its database connection before the clock starts."""
    import http.client

    for _ in range(requests):
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
        conn.request("GET", f"/api/v1/accounts/{account}/", headers={"Authorization": f"Bearer {token}"})
        status = conn.getresponse().status
        conn.close()
        if status != 200:
            raise RuntimeError(f"warm-up request answered {status}")


def _stats(csv_prefix: Path) -> list[dict]:
    with open(f"{csv_prefix}_stats.csv", newline="") as fh:
        return list(csv.DictReader(fh))


def check_database(replays: list[dict]) -> dict:
    from django.db import connection
    from django.db.models import Count

    from accounts.models import CreditAccount
    from accounts.selectors import account_total_limit
    from installments.models import Purchase, Repayment

    over = [a.reference for a in CreditAccount.objects.all() if a.used_amount > account_total_limit(account=a)]
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT COUNT(*) FROM (SELECT external_ref FROM installments_repayment GROUP BY external_ref "
            "HAVING COUNT(*) > 1) d"
        )
        duplicated_refs = cursor.fetchone()[0]
    orders_twice = (Purchase.objects.values("account_id", "merchant_order_id").annotate(n=Count("id"))
                    .filter(n__gt=1).count())
    try:
        from installments.books import books_check

        report = books_check()
        books = "balanced" if report.ok else f"NOT balanced: {len(report.breaches)} breaches"
    except ImportError:  # pragma: no cover
        books = "not checked"
    return {
        "accounts_over_limit": len(over),
        "repayment_refs_posted_twice": duplicated_refs,
        "merchant_orders_posted_twice": orders_twice,
        "replays": len(replays),
        "replays_not_identical": sum(1 for r in replays if not r["same"]),
        "replays_without_header": sum(1 for r in replays if not r["header"] and r["status"] != 422),
        "purchases_approved": Purchase.objects.filter(status="approved").count(),
        "purchases_declined": Purchase.objects.filter(status="declined").count(),
        "declines_by_reason": dict(Counter(
            code for codes in Purchase.objects.filter(status="declined").values_list("reason_codes", flat=True)
            for code in codes)),
        "repayments": Repayment.objects.count(),
        "books": books,
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seconds", type=int, default=45)
    parser.add_argument("--users", type=int, default=50)
    parser.add_argument("--accounts", type=int, default=1000)
    parser.add_argument("--workers", type=int, default=max(2, 2 * (os.cpu_count() or 1)))
    parser.add_argument("--worker-class", default="sync", choices=("sync", "gthread"),
                        help="gunicorn's worker class; gthread keeps client connections alive")
    parser.add_argument("--threads", type=int, default=2, help="threads per gthread worker")
    args = parser.parse_args()

    database_url = os.environ.get("BENCH_DATABASE_URL", "postgres://postgres@127.0.0.1:5432/bench_api")
    out = ROOT / "var" / "bench-api"
    shutil.rmtree(out, ignore_errors=True)
    out.mkdir(parents=True)

    print(f"seeding {args.accounts} accounts in {database_url.rsplit('/', 1)[1]} …", flush=True)
    _recreate_database(database_url)
    _django(database_url)
    started = time.monotonic()
    accounts, token = seed(args.accounts)
    print(f"  seeded in {time.monotonic() - started:.1f} s", flush=True)
    queries_per_purchase, cpu_ms_in_process = profile_one_purchase(accounts[-PROFILE_ACCOUNTS:], token)
    accounts = accounts[:-PROFILE_ACCOUNTS]
    from django.db import connections

    connections.close_all()

    port = _free_port()
    env = {**os.environ, "DATABASE_URL": database_url, "DJANGO_DEBUG": "0", "DATABASE_CONN_MAX_AGE": "300",
           "DJANGO_LOG_LEVEL": "ERROR", "PYTHONPATH": str(ROOT)}
    server = subprocess.Popen(
        [str(VENV_BIN / "gunicorn"), "backoffice.wsgi:application", "--bind", f"127.0.0.1:{port}",
         "--workers", str(args.workers), "--worker-class", args.worker_class, "--threads", str(args.threads),
         "--preload", "--timeout", "60", "--log-level", "warning", "--error-logfile", str(out / "gunicorn.log")],
        cwd=ROOT, env=env, start_new_session=True,
    )
    load_during = "n/a"
    server_cpu = machine_busy = postgres_cpu = locust_cpu = 0.0
    try:
        for _ in range(100):
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
                break
            except OSError:
                time.sleep(0.2)
        else:
            raise RuntimeError("gunicorn did not start")
        _warm_up(port, token, accounts[0], requests=4 * args.workers)
        print(f"gunicorn: {args.workers} sync workers on 127.0.0.1:{port}; locust: {args.users} clients for "
              f"{args.seconds} s", flush=True)
        replay_log = out / "replays.json"
        locust_env = {**env, "BENCH_ROLE": "locust", "BENCH_ACCOUNTS": json.dumps(accounts), "BENCH_TOKEN": token,
                      "BENCH_REPLAY_LOG": str(replay_log)}
        server_cpu_before, machine_busy_before = _cpu_seconds(pgid=server.pid), _machine_busy_seconds()
        postgres_cpu_before, locust_cpu_before = _cpu_seconds(command="postgres"), _children_cpu_seconds()
        subprocess.run(
            [str(VENV_BIN / "locust"), "-f", str(Path(__file__).resolve()), "--headless", "--users", str(args.users),
             "--spawn-rate", str(args.users), "--run-time", f"{args.seconds}s", "--host", f"http://127.0.0.1:{port}",
             "--csv", str(out / "locust"), "--only-summary", "--loglevel", "WARNING", "--stop-timeout", "10"],
            cwd=ROOT, env=locust_env, check=False, stdout=open(out / "locust.log", "w"), stderr=subprocess.STDOUT,
        )
        load_during = "{:.2f}/{:.2f}/{:.2f}".format(*os.getloadavg())  # the 1-minute figure covers the load
        server_cpu = _cpu_seconds(pgid=server.pid) - server_cpu_before
        machine_busy = _machine_busy_seconds() - machine_busy_before
        postgres_cpu = _cpu_seconds(command="postgres") - postgres_cpu_before
        locust_cpu = _children_cpu_seconds() - locust_cpu_before
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        server.wait(30)

    rows = _stats(out / "locust")
    print(f"\n{'request':50} {'count':>7} {'errors':>6} {'req/s':>7} {'p50':>6} {'p95':>6} {'p99':>6}  (ms)")
    for row in rows:
        print(f"{row['Name'][:50]:50} {row['Request Count']:>7} {row['Failure Count']:>6} "
              f"{float(row['Requests/s']):>7.1f} {row['50%']:>6} {row['95%']:>6} {row['99%']:>6}")
    replays = json.loads(replay_log.read_text()) if replay_log.exists() else []
    checks = check_database(replays)
    print("\nintegrity after the run:")
    for key, value in checks.items():
        print(f"  {key:32} {value}")
    failures_csv = out / "locust_failures.csv"
    if failures_csv.exists():
        with open(failures_csv, newline="") as fh:
            for row in list(csv.DictReader(fh))[:10]:
                print(f"  failure: {row['Name']}: {row['Error']} × {row['Occurrences']}")
    total = next((r for r in rows if r["Name"] == "Aggregated"), None)
    bad = (checks["accounts_over_limit"] or checks["repayment_refs_posted_twice"]
           or checks["merchant_orders_posted_twice"] or checks["replays_not_identical"]
           or checks["books"] != "balanced" or (total and int(total["Failure Count"])))
    print("\nRESULT:", "FAIL" if bad else "OK")
    purchases = next((r for r in rows if r["Name"] == "POST /api/v1/purchases/"), None)
    load = "{:.2f}/{:.2f}/{:.2f}".format(*os.getloadavg())
    served = int(total["Request Count"]) if total else 0
    throughput = float(total["Requests/s"]) if total else 0.0
    server_ms, machine_ms, postgres_ms, locust_ms = (
        cpu * 1000 / served if served else 0.0 for cpu in (server_cpu, machine_busy, postgres_cpu, locust_cpu))
    cores = os.cpu_count() or 1
    print(f"\nCPU per request during the load: {server_ms:.1f} ms in gunicorn's workers, {postgres_ms:.1f} ms in "
          f"PostgreSQL, {locust_ms:.1f} ms in locust (the load generator), {machine_ms:.1f} ms of the whole machine "
          f"(these, the kernel and anything else running); {cores} cores → at most "
          f"~{cores * 1000 / machine_ms if machine_ms else 0:.0f} requests/s at this cost")
    if throughput:
        # Little's law: the clients' closed loop keeps --users requests in flight, so the mean latency is
        # users / throughput: the latency a throughput allows, whatever the code does.
        print(f"{args.users} clients in a closed loop at {throughput:.1f} requests/s → mean latency "
              f"{args.users * 1000 / throughput:.0f} ms (Little's law)")
    print(f"requests_per_s={throughput:.1f} "
          f"purchases_per_s={float(purchases['Requests/s']) if purchases else 0:.1f} "
          f"p50_ms={total['50%'] if total else '-'} p99_ms={total['99%'] if total else '-'} "
          f"purchase_p99_ms={purchases['99%'] if purchases else '-'} queries_per_purchase={queries_per_purchase} "
          f"cpu_ms_per_purchase_in_process={cpu_ms_in_process:.1f} server_cpu_ms_per_request={server_ms:.1f} "
          f"postgres_cpu_ms_per_request={postgres_ms:.1f} locust_cpu_ms_per_request={locust_ms:.1f} "
          f"machine_cpu_ms_per_request={machine_ms:.1f} workers={args.workers} worker_class={args.worker_class} "
          f"errors={total['Failure Count'] if total else '-'} over_limit={checks['accounts_over_limit']} "
          f"orders_twice={checks['merchant_orders_posted_twice']} refs_twice={checks['repayment_refs_posted_twice']} "
          f"result={'FAIL' if bad else 'OK'} load_avg_during={load_during} load_avg_now={load}")
    return 1 if bad else 0


if __name__ == "__main__" and os.environ.get("BENCH_ROLE") != "locust":
    sys.exit(main())

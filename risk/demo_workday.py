"""The risk desk's day in the demo (``seed_demo`` → ``risk.demo.seed``): an active application scorecard
trained on the German Credit data, applications in every state, the credit officers' review queue and
limit reviews.

The scorecard is the real training command's output, shipped as JSON so that the demo needs no training
stack (``requirements-train.txt``): regenerate it with

    python manage.py train_scorecard --dataset german --dry-run --export risk/fixtures/german_scorecard.json

Everything goes through the services (``scorecard_version_create``/``_activate``, ``application_submit``,
``application_request_human_review``, ``review_case_approve``/``_decline``, ``limit_reviews_run``), so the
audit trail, decisions and accounts are the ones production would write. Idempotent: a second run finds the
version and the applications (by their external id) and adds nothing.
"""
from __future__ import annotations

import datetime as dt
import json
import random
from decimal import Decimal
from pathlib import Path

from django.contrib.auth import get_user_model

from accounts.demo_data import demo_identity
from core.errors import ApplicationError

FIXTURE = Path(__file__).resolve().parent / "fixtures" / "german_scorecard.json"
APPLICANTS = 36
FIRST_ID = 900_000  # identity sequence numbers far from the portfolio's (1 … customers)


def load_fixture() -> dict:
    return json.loads(FIXTURE.read_text(encoding="utf-8"))


def scorecard_ensure(*, user) -> object:
    """The German scorecard as the active application scorecard (stored and activated once)."""
    from risk.models import ScorecardVersion
    from risk.services import scorecard_version_activate, scorecard_version_create

    active = ScorecardVersion.objects.filter(purpose=ScorecardVersion.Purpose.APPLICATION,
                                             status=ScorecardVersion.Status.ACTIVE).first()
    if active is not None:
        return active
    data = load_fixture()
    version = ScorecardVersion.objects.filter(name=data["name"], dataset=data["dataset"]).order_by("-version").first()
    if version is None:
        version = scorecard_version_create(name=data["name"], purpose=data["purpose"], dataset=data["dataset"],
                                           table=data["table"], metrics=data["metrics"], training=data["training"])
    return scorecard_version_activate(version=version, user=user)


def _bin_value(var: dict, bin_: dict, rng: random.Random):
    """A raw input that falls in ``bin_`` of a scorecard attribute."""
    label = bin_["label"]
    if var["dtype"] != "numerical":
        return rng.choice(label.split(" | ")).strip()
    lo, hi = label.strip("[]()").split(",")
    lo = float(lo) if lo.strip() not in ("-inf",) else float(hi) - 3
    hi = float(hi) if hi.strip() not in ("inf",) else lo + 3
    return round(lo + (hi - lo) * 0.5, 1) if hi - lo > 1 else lo


def applicant_features(table: dict, rng: random.Random, *, lean: float) -> dict:
    """Inputs for every attribute the applicant can state (age comes from the ID number); ``lean`` in
    [0, 1] tilts the choice towards the bins with the most points (1) or the fewest (0)."""
    features = {}
    for var in table["variables"]:
        if var["name"] == "age_in_years":
            continue
        bins = [b for b in var["bins"] if b.get("label") not in (None, "", "Missing", "Special")]
        bins = [b for b in bins if "inf" not in b["label"] or var["dtype"] == "numerical"]
        if not bins:
            continue
        ranked = sorted(bins, key=lambda b: b.get("points", 0))
        index = min(int(rng.triangular(0, len(ranked), lean * len(ranked))), len(ranked) - 1)
        features[var["name"]] = _bin_value(var, ranked[index], rng)
    return features


def applications_seed(*, rng: random.Random, table: dict, user, stdout=None, count: int = APPLICANTS) -> dict[str, int]:
    from risk.models import Application, ReviewCase
    from risk.services import application_request_human_review, application_submit
    from risk.services.queue import review_case_approve, review_case_decline

    made = 0
    for k in range(count):
        identity = demo_identity(rng, FIRST_ID + k)
        external_id = f"app-{FIRST_ID + k}"
        if Application.objects.filter(external_id=external_id).exists():
            continue
        lean = (0.95, 0.6, 0.25, 0.05)[k % 4]
        features = applicant_features(table, rng, lean=lean)
        if k % 6 == 4:  # a thin file: most attributes unknown → manual review
            features = dict(list(features.items())[:5])
        try:
            application_submit(
                name=identity["name"], id_number=identity["id_number"], mobile=identity["mobile"],
                device_id=f"demo-app-device-{k}", external_id=external_id, address=identity["address"],
                consents=[("data_processing", "2026.1", True), ("credit_bureau", "2026.1", True),
                          ("marketing", "2026.1", k % 3 != 0), ("agency_sharing", "2026.1", True)],
                features=features,
            )
            made += 1
        except ApplicationError:
            continue
    # The officers' queue: yesterday's cases decided, the rest open for today; one customer asks for a
    # person to look again at an automated approval (PIPL Art. 24).
    open_cases = ReviewCase.objects.filter(kind=ReviewCase.Kind.APPLICATION, status=ReviewCase.Status.OPEN,
                                           application__external_id__startswith="app-").order_by("pk")
    referred = list(open_cases.filter(application__status=Application.Status.IN_REVIEW))
    declined = list(open_cases.filter(application__status=Application.Status.DECLINED))
    decided = 0
    if made and len(referred) >= 2:  # one referred file decided, the others left for today
        review_case_approve(case=referred[0], user=user, reason="demo: income proof checked by phone",
                            limit=Decimal("3000.00"))
        decided += 1
    if made and declined:
        review_case_decline(case=declined[0], user=user, reason="demo: could not confirm the applicant's identity")
        decided += 1
    approved = Application.objects.filter(external_id__startswith="app-", status=Application.Status.APPROVED).order_by("pk").first()
    if made and approved is not None and not ReviewCase.objects.filter(application=approved).exists():
        application_request_human_review(application=approved,
                                         statement="我对授信额度有异议，请人工复核。(I dispute the limit; please review it.)")
    states = {s: Application.objects.filter(external_id__startswith="app-", status=s).count()
              for s in Application.Status.values}
    if stdout is not None:
        stdout.write(f"  applications: {made} submitted today {states}; {decided} review cases decided, "
                     f"{ReviewCase.objects.filter(status=ReviewCase.Status.OPEN).count()} open for the credit officers")
    return states


def workday(*, rng: random.Random, today: dt.date, stdout=None) -> None:
    from risk.daily import limit_reviews_run

    user = get_user_model().objects.filter(is_superuser=True).order_by("pk").first()
    if user is None:
        return
    version = scorecard_ensure(user=user)
    if stdout is not None:
        stdout.write(f"  scorecard {version.label} active for applications (trained on the German Credit data)")
    applications_seed(rng=rng, table=version.table, user=user, stdout=stdout)
    summary = limit_reviews_run(on=today - dt.timedelta(days=1))
    if stdout is not None:
        stdout.write(f"  limit reviews: {summary.as_dict()}")

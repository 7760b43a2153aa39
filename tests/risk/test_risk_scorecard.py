"""The scorecard pipeline on German Credit (the public yardstick) and plain-Python scoring."""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from django.core.management import call_command
from django.db import IntegrityError, transaction

from core.errors import BusinessRuleError
from risk.models import ScorecardVersion
from risk.scoring import ScoringError, check_table, score, score_range
from risk.services import scorecard_version_activate, scorecard_version_create, scorecard_version_retire
from tests.factories_risk import german_rows_with_scores, german_training, scorecard_version

BASE_DIR = Path(__file__).resolve().parents[2]


def test_german_cross_validated_auc_beats_the_published_baseline():
    metrics = german_training().metrics
    print(f"German Credit: CV AUC {metrics['cv']['auc']} (±{metrics['cv']['auc_std']}), KS {metrics['cv']['ks']}, "
          f"Gini {metrics['cv']['gini']}; holdout AUC {metrics['holdout']['auc']} KS {metrics['holdout']['ks']}")
    assert len(metrics["cv"]["per_fold"]) == 5
    assert sum(f["n"] for f in metrics["cv"]["per_fold"]) == 1000
    assert metrics["cv"]["auc"] >= 0.78 > metrics["baseline"]["auc"]
    assert metrics["cv"]["gini"] == pytest.approx(2 * metrics["cv"]["auc"] - 1, abs=2e-4)
    assert metrics["holdout"]["n"] == 250 and metrics["holdout"]["bads"] == 75
    assert metrics["holdout"]["auc"] > 0.75
    assert 0 < metrics["holdout"]["ks"] < 1


def test_plain_python_scores_equal_the_library_for_all_1000_rows():
    result = german_training()
    rows = german_rows_with_scores()
    assert len(rows) == 1000
    mismatches = [(i, lib, score(result.table, row).score) for i, (row, lib) in enumerate(rows)
                  if score(result.table, row).score != lib]
    assert mismatches == []
    # the table survives the JSON round trip of the database column
    stored = json.loads(json.dumps(result.table))
    assert all(score(stored, row).score == lib for row, lib in rows)


def test_scaling_is_600_points_at_50_to_1_with_20_points_to_double_the_odds():
    table = german_training().table
    assert table["scaling"] == {"pdo": 20, "odds": 50, "points": 600}
    low, high = score_range(table)
    scores = [s for _, s in german_rows_with_scores()]
    assert low <= min(scores) and max(scores) <= high
    # higher scores hold fewer bads: the lowest 200 scores hold more than twice the bads of the top 200
    y = german_training().dataset.y
    ranked = sorted(zip(scores, y))
    bottom, top = ranked[:200], ranked[-200:]
    assert sum(b for _, b in bottom) > 2 * sum(b for _, b in top)


def test_reason_codes_for_a_known_row():
    """Row 0 (a 67-year-old with a checking account below 0 DM, 6 months, 1,169 DM for a radio/TV)."""
    table = german_training().table
    row, library_score = german_rows_with_scores()[0]
    result = score(table, row)
    assert result.score == library_score
    codes = result.reason_codes(4)
    assert [c["code"] for c in codes][0] == "status_of_existing_checking_account"
    assert codes[0]["value"] == "... < 0 DM"
    # each code's points lost is its best bin's points minus the bin's points, in descending order
    for code in codes:
        var = next(v for v in table["variables"] if v["name"] == code["code"])
        assert code["points_lost"] == max(b["points"] for b in var["bins"]) - code["points"] > 0
    assert [c["points_lost"] for c in codes] == sorted((c["points_lost"] for c in codes), reverse=True)
    # the best attributes of this row are no reason
    at_best = {a.attribute for a in result.attributes if a.points_lost == 0}
    assert at_best.isdisjoint(c["code"] for c in codes)


def test_missing_and_unknown_values_score_in_the_missing_bin():
    table = german_training().table
    row, _ = german_rows_with_scores()[0]
    var = next(v for v in table["variables"] if v["dtype"] == "categorical")
    base = score(table, row)
    for value in (None, "", "a category never seen"):
        changed = score(table, {**row, var["name"]: value})
        before = next(a for a in base.attributes if a.attribute == var["name"])
        assert changed.score == base.score - before.points + var["missing_points"]
        assert var["name"] in changed.missing


def test_a_non_numeric_value_for_a_numerical_attribute_is_refused():
    table = german_training().table
    row, _ = german_rows_with_scores()[0]
    with pytest.raises(ScoringError):
        score(table, {**row, "duration_in_month": "six"})


def test_check_table_refuses_what_scoring_cannot_read():
    table = json.loads(json.dumps(german_training().table))
    check_table(table)
    numeric = next(v for v in table["variables"] if v["dtype"] == "numerical")
    numeric["splits"] = list(reversed(numeric["splits"]))
    with pytest.raises(ScoringError):
        check_table(table)
    with pytest.raises(ScoringError):
        check_table({**german_training().table, "format": "other"})


def test_web_process_runs_without_the_training_libraries():
    """Start Django, load the URLs, the admin and every risk runtime module, and score, with the
    training libraries made unimportable (as on a web server installed from requirements.txt)."""
    code = (
        "import sys\n"
        "for name in ('pandas', 'numpy', 'optbinning', 'sklearn', 'scipy', 'ortools'):\n"
        "    sys.modules[name] = None  # import fails, find_spec answers None: as if not installed\n"
        "import django, os; os.environ.setdefault('DJANGO_SETTINGS_MODULE', 'backoffice.settings'); django.setup()\n"
        "import backoffice.urls, risk.admin, risk.services, risk.daily, risk.scoring, risk.api, risk.tasks\n"
        "from django.urls import reverse; reverse('admin:risk_scorecardversion_changelist')\n"
        "import json; table = json.loads(sys.stdin.read())\n"
        "print(risk.scoring.score(table, {}).score)\n"
    )
    table = german_training().table
    out = subprocess.run([sys.executable, "-c", code], cwd=BASE_DIR, capture_output=True, text=True, timeout=120,
                         input=json.dumps(table))
    assert out.returncode == 0, out.stderr[-2000:]
    assert int(out.stdout.strip().splitlines()[-1]) == score(table, {}).score


# --- versions ------------------------------------------------------------------------------------


@pytest.mark.django_db
def test_create_numbers_versions_and_stores_drafts():
    table = german_training().table
    first = scorecard_version_create(name="german", purpose="application", dataset="german", table=table, metrics={})
    second = scorecard_version_create(name="german", purpose="application", dataset="german", table=table, metrics={})
    assert (first.version, second.version) == (1, 2)
    assert first.status == second.status == ScorecardVersion.Status.DRAFT
    assert second.label == "german-v2"


@pytest.mark.django_db
def test_only_one_active_version_per_purpose(staff_user):
    table = german_training().table
    old = scorecard_version(table=table, active=True)
    new = scorecard_version(table=table, active=False)
    scorecard_version_activate(version=new, user=staff_user)
    old.refresh_from_db(), new.refresh_from_db()
    assert (old.status, new.status) == ("retired", "active")
    assert new.activated_by == staff_user and old.retired_at is not None
    with pytest.raises(BusinessRuleError):
        scorecard_version_activate(version=new, user=staff_user)
    # the database refuses a second active version of a purpose
    with pytest.raises(IntegrityError), transaction.atomic():
        ScorecardVersion.objects.filter(pk=old.pk).update(status="active")
    # a behaviour version can be active beside the application one
    behaviour = scorecard_version(table=table, purpose="behaviour", name="portfolio", active=False)
    scorecard_version_activate(version=behaviour, user=staff_user)
    assert ScorecardVersion.objects.filter(status="active").count() == 2
    scorecard_version_retire(version=new, user=staff_user)
    assert ScorecardVersion.objects.filter(status="active").get() == behaviour


@pytest.mark.django_db
def test_train_scorecard_command_stores_a_draft_with_its_evaluation(capsys):
    call_command("train_scorecard", "--dataset", "german", "--folds", "2")  # 2 folds: faster, same stored model
    out = capsys.readouterr().out
    version = ScorecardVersion.objects.get()
    assert version.status == "draft" and version.dataset == "german" and version.purpose == "application"
    assert f"CV AUC {version.metrics['cv']['auc']:.4f}" in out and len(version.metrics["cv"]["per_fold"]) == 2
    assert version.metrics["holdout"] == german_training().metrics["holdout"]  # deterministic (seed 42)
    assert version.table == json.loads(json.dumps(german_training().table))
    assert version.training["libraries"]["optbinning"]

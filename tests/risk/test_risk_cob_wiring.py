"""Limit reviews are part of the close of business: the risk step sits in its PRODUCT §11 slot and
runs on Mondays only; the monthly score refresh is on the beat schedule."""
import datetime as dt

from cob.registry import registry


def test_limit_reviews_run_in_their_slot_every_monday():
    step = registry.get("risk.limit_reviews")
    assert step is not None and step.slot == "limit_reviews"
    monday, tuesday = dt.date(2026, 11, 30), dt.date(2026, 12, 1)
    assert step.due_on(monday) and not step.due_on(tuesday)
    names_monday = [s.name for s in registry.steps_for(monday)]
    assert "risk.limit_reviews" in names_monday
    assert "risk.limit_reviews" not in [s.name for s in registry.steps_for(tuesday)]
    # after the delinquency and collections steps of the day
    assert names_monday.index("risk.limit_reviews") > names_monday.index("collections.cases_sync")


def test_behaviour_scores_refresh_monthly_on_the_beat_schedule(settings):
    entry = settings.CELERY_BEAT_SCHEDULE["risk-account-scores-refresh"]
    assert entry["task"] == "risk.account_scores_refresh"

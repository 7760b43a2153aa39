"""Default configuration (PRODUCT §3, §8): the score-band table, the rules and the policy row.
Staff change them in the admin; the numbers are written here once, as data."""
from decimal import Decimal

from django.db import migrations

BANDS = [
    ("A", 650, Decimal("20000.00"), "approve"),
    ("B", 600, Decimal("10000.00"), "approve"),
    ("C", 550, Decimal("5000.00"), "approve"),
    ("D", 500, Decimal("2000.00"), "approve"),
]

RULES = [
    ("blacklist_id_number", "decline", "critical", {}),
    ("blacklist_mobile", "decline", "critical", {}),
    ("blacklist_device", "decline", "critical", {}),
    ("application_velocity", "decline", "high", {"max_count": 3, "window_hours": 24}),
    ("missing_features", "review", "medium", {}),
    ("purchase_velocity", "decline", "high", {"max_count": 5, "window_minutes": 10}),
    ("amount_anomaly", "review", "medium", {"multiple": "3", "min_amount": "2000.00", "lookback_days": 90}),
    ("high_risk_category", "review", "medium", {"categories": ["gift_card", "top_up"]}),
    ("blacklisted_device", "decline", "critical", {}),
    ("early_overdue", "flag", "high", {}),
    ("early_utilisation", "flag", "medium", {}),
    ("early_score_drop", "flag", "medium", {}),
]


def seed(apps, schema_editor):
    ScoreBand = apps.get_model("risk", "ScoreBand")
    RiskRule = apps.get_model("risk", "RiskRule")
    RiskPolicy = apps.get_model("risk", "RiskPolicy")
    for name, min_score, limit, action in BANDS:
        ScoreBand.objects.get_or_create(name=name, defaults={"min_score": min_score, "limit": limit, "action": action})
    for code, outcome, severity, params in RULES:
        RiskRule.objects.get_or_create(code=code, defaults={"outcome": outcome, "severity": severity, "params": params})
    RiskPolicy.objects.get_or_create(singleton=1)


class Migration(migrations.Migration):
    dependencies = [("risk", "0001_initial")]
    operations = [migrations.RunPython(seed, migrations.RunPython.noop)]

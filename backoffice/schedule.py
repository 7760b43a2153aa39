"""The beat schedule, in code (PRODUCT §11). Times are Asia/Shanghai."""
from celery.schedules import crontab

BEAT_SCHEDULE: dict = {}
BEAT_SCHEDULE["privacy-release-expired-restrictions"] = {"task": "privacy.release_expired_restrictions", "schedule": crontab(hour=3, minute=30)}

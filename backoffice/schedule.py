"""The beat schedule, in code (PRODUCT §11). Times are Asia/Shanghai."""
from celery.schedules import crontab

BEAT_SCHEDULE: dict = {}
BEAT_SCHEDULE["privacy-release-expired-restrictions"] = {"task": "privacy.release_expired_restrictions", "schedule": crontab(hour=3, minute=30)}
BEAT_SCHEDULE["cob-close-of-business"] = {"task": "cob.close_of_business", "schedule": crontab(hour=0, minute=30)}  # close the day, then advance the business date
BEAT_SCHEDULE["collections-dispatch-due-reminders"] = {"task": "collections.dispatch_due_reminders", "schedule": crontab(minute="*/5")}  # held (08:00) and retried reminders
BEAT_SCHEDULE["integrations-idempotency-records-purge"] = {"task": "integrations.idempotency_records_purge", "schedule": crontab(hour=4, minute=10)}  # keys kept >= 24 h, then deleted
BEAT_SCHEDULE["risk-account-scores-refresh"] = {"task": "risk.account_scores_refresh", "schedule": crontab(day_of_month=1, hour=2, minute=0)}  # behaviour scores for the score-drop trigger
BEAT_SCHEDULE["notices-send-due"] = {"task": "notices.send_due", "schedule": crontab(minute="*/5")}  # customer notices (held until 08:00, retried)

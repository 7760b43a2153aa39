"""The beat schedule, in code (PRODUCT §11). Times are Asia/Shanghai."""
from celery.schedules import crontab

BEAT_SCHEDULE: dict = {}

"""``{% load collections_desk %}{% collector_day_summary %}``: on the admin home page, a collector's day
(promises due, broken, call-backs, never contacted) with a link to *My day*; nothing for anyone else."""
from __future__ import annotations

from django import template
from django.urls import reverse

from core.business_date import get_business_date
from debt_collection import selectors

register = template.Library()


@register.inclusion_tag("collections/_day_summary.html", takes_context=True)
def collector_day_summary(context) -> dict:
    request = context.get("request")
    user = getattr(request, "user", None)
    if user is None or not user.is_authenticated or not user.has_perm(selectors.WORK_PERMISSION):
        return {"day": None}
    collector = selectors.collector_of(user)
    if collector is None:
        return {"day": None}
    return {"day": selectors.collector_day(collector=collector, on=get_business_date()),
            "today_url": reverse("admin:collections_today")}

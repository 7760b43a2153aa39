"""Template tags for the admin's look: navigation by job, the business date, amounts, the dashboard."""
from __future__ import annotations

from decimal import Decimal

from django import template
from django.utils.translation import gettext as _

from core.money import format_cny
from core.templatetags.money import cny as money_cny
from staff import charts
from staff.navigation import job_sections as _job_sections

register = template.Library()

BUCKET_COLOURS = {
    "M0": "#16a34a", "M1": "#f59e0b", "M2": "#f97316", "M3": "#ea580c",
    "M4": "#dc2626", "M5": "#b91c1c", "M6": "#7e22ce", "M7": "#475569",
}


@register.simple_tag
def job_sections(app_list):
    return _job_sections(app_list or [])


@register.simple_tag
def business_date():
    from core.business_date import get_business_date

    return get_business_date()


register.filter("cny", money_cny)  # the one money filter (core/templatetags/money.py)


@register.filter
def percent(value):
    return "—" if value is None else f"{Decimal(value):.2f} %"


def _pct_label(value: Decimal) -> str:
    return f"{Decimal(value):.1f}%"


@register.inclusion_tag("admin/staff/dashboard.html", takes_context=True)
def portfolio_dashboard(context):
    request = context.get("request")
    user = getattr(request, "user", None)
    if user is None or not user.has_perm("staff.view_dashboard"):
        return {"show": False}
    from core.business_date import get_business_date
    from staff.selectors import dashboard_for

    on = get_business_date()
    board = dashboard_for(on=on)
    late = [b for b in board.buckets if b.bucket != "M0"]
    bucket_chart = charts.bar_chart(
        [
            charts.Bar(
                label=b.bucket, value=b.balance, caption=_("%(n)s acc.") % {"n": f"{b.accounts:,}"}, colour=BUCKET_COLOURS[b.bucket],
                title=_("%(bucket)s: %(balance)s in %(n)s accounts") % {
                    "bucket": b.label, "balance": format_cny(b.balance), "n": f"{b.accounts:,}"},
            )
            for b in late
        ],
        label=_("Delinquent balance by bucket (¥)"),
    )
    trend_chart = None if not any(n or r for _, n, r in board.trend) else charts.line_chart(
        [d.strftime("%m-%d") for d, _, _ in board.trend],
        [
            charts.Series(_("New credit"), "#2563eb", [v for _, v, _ in board.trend]),
            charts.Series(_("Repayments"), "#16a34a", [v for _, _, v in board.trend]),
        ],
        label=_("New credit and repayments per day, last %(n)s days (¥)") % {"n": len(board.trend)},
        value_format=format_cny,
    )
    roll_chart = None
    if board.roll_rates:
        roll_chart = charts.bar_chart(
            [
                charts.Bar(
                    label=f"{r.source}→{r.target}", value=r.rate or Decimal(0), colour=BUCKET_COLOURS[r.target],
                    caption=_("of %(amount)s") % {"amount": charts.compact(r.source_balance)},
                    title=_("%(source)s→%(target)s: %(rate)s of %(balance)s") % {
                        "source": r.source, "target": r.target, "rate": percent(r.rate),
                        "balance": format_cny(r.source_balance)},
                )
                for r in board.roll_rates
            ],
            # xgettext:no-python-format
            label=_("Roll rates month on month (% of balance)"),
            value_format=_pct_label, axis_format=_pct_label,
        )
    delinquency_chart = None
    if len(board.delinquency_trend) > 1:
        delinquency_chart = charts.line_chart(
            [d.strftime("%m-%d") for d, _ in board.delinquency_trend],
            # xgettext:no-python-format
            [charts.Series(_("30+ balance, % of outstanding"), "#dc2626", [v for _, v in board.delinquency_trend])],
            label=_("30+ delinquency rate by day (%)"), axis_format=_pct_label, value_format=_pct_label,
        )
    vintage_chart = _vintage_chart(getattr(board, "vintages", []))
    return {
        "show": True,
        "vintage_chart": vintage_chart,
        "board": board,
        "bucket_chart": bucket_chart,
        "trend_chart": trend_chart,
        "roll_chart": roll_chart,
        "delinquency_chart": delinquency_chart,
        "bucket_colours": BUCKET_COLOURS,
    }


VINTAGE_COLOURS = ("#94a3b8", "#60a5fa", "#2563eb", "#7c3aed", "#db2777", "#ea580c")


def _vintage_chart(vintages):
    """Cumulative 30+ rate by months on book, one line per monthly cohort (staff.vintage)."""
    if not any(len(v.bad_by_mob) > 1 for v in vintages):
        return None
    length = max(len(v.bad_by_mob) for v in vintages)
    colours = VINTAGE_COLOURS[-len(vintages):] if len(vintages) <= len(VINTAGE_COLOURS) else None
    series = [
        charts.Series(v.label, colours[i] if colours else VINTAGE_COLOURS[i % len(VINTAGE_COLOURS)],
                      list(v.bad_by_mob) + [None] * (length - len(v.bad_by_mob)))
        for i, v in enumerate(vintages)
    ]
    return charts.line_chart(
        [_("MOB %(n)s") % {"n": k} for k in range(length)], series,
        label=_("Vintage curves: cumulative 30+ rate by months on book (%)"),
        axis_format=_pct_label, value_format=_pct_label, every=1,
    )


@register.filter
def get_item(mapping, key):
    return mapping.get(key, "") if hasattr(mapping, "get") else ""

"""Server-rendered SVG charts: no JavaScript and nothing fetched from outside, readable at a glance.

Amounts stay ``Decimal`` everywhere; they become floats only as pixel coordinates. Every text that
goes into the SVG is escaped.
"""
from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from collections.abc import Callable, Sequence

from django.utils.html import escape
from django.utils.safestring import SafeString, mark_safe

FONT = "font-family:-apple-system,'Segoe UI',system-ui,Roboto,'Helvetica Neue',Arial,sans-serif"
AXIS = "#8a94a6"
GRID = "#e3e8ef"
TEXT = "#334155"


@dataclass(frozen=True)
class Bar:
    label: str
    value: Decimal
    caption: str = ""  # under the label (e.g. "12 accounts")
    colour: str = "#2563eb"
    title: str = ""  # tooltip


@dataclass(frozen=True)
class Series:
    name: str
    colour: str
    values: Sequence[Decimal | None]


def nice_ceiling(value: Decimal) -> Decimal:
    """The smallest 1/2/2.5/5 × 10^k at or above ``value`` (axis top)."""
    value = Decimal(value)
    if value <= 0:
        return Decimal(1)
    exponent = value.adjusted()
    for step in (Decimal(1), Decimal(2), Decimal("2.5"), Decimal(5), Decimal(10)):
        top = step.scaleb(exponent)
        if top >= value:
            return top
    return Decimal(10).scaleb(exponent)  # pragma: no cover


def compact(value: Decimal) -> str:
    """Short axis labels: 950, 12.5k, 3.2M, 1.1B (yuan)."""
    value = Decimal(value)
    sign = "-" if value < 0 else ""
    value = abs(value)
    for size, suffix in ((Decimal(10) ** 9, "B"), (Decimal(10) ** 6, "M"), (Decimal(10) ** 3, "k")):
        if value >= size:
            scaled = (value / size).quantize(Decimal("0.1"))
            text = f"{scaled:f}".rstrip("0").rstrip(".")
            return f"{sign}{text}{suffix}"
    if value == value.to_integral_value() or value >= 100:
        return f"{sign}{value.quantize(Decimal(1)):f}"
    return f"{sign}{value.quantize(Decimal('0.01')).normalize():f}"


def text_width(text: str, size: int = 12) -> int:
    """Rough width in pixels of ``text`` at ``size`` px: wide (CJK) characters take a full em, others ~0.58."""
    import unicodedata

    return round(sum(size if unicodedata.east_asian_width(c) in "WF" else size * 0.58 for c in str(text)))


def _svg(width: int, height: int, label: str, body: list[str]) -> SafeString:
    return mark_safe(  # noqa: S308  # nosec B308 B703 - every text node below is escaped
        f'<svg class="chart" viewBox="0 0 {width} {height}" width="100%" role="img" '
        f'aria-label="{escape(label)}" xmlns="http://www.w3.org/2000/svg" style="{FONT}">'
        f"<title>{escape(label)}</title>{''.join(body)}</svg>"
    )


def bar_chart(
    bars: Sequence[Bar],
    *,
    label: str,
    width: int = 560,
    height: int = 240,
    value_format: Callable[[Decimal], str] = compact,
    axis_format: Callable[[Decimal], str] = compact,
) -> SafeString:
    left, right, top, bottom = 52, 12, 22, 44
    plot_w, plot_h = width - left - right, height - top - bottom
    peak = nice_ceiling(max((b.value for b in bars), default=Decimal(0)))
    body = []
    for k in range(5):  # grid lines and axis labels at 0, ¼ … top
        tick = peak * k / 4
        y = top + plot_h - float(tick / peak) * plot_h
        body.append(f'<line x1="{left}" x2="{width - right}" y1="{y:.1f}" y2="{y:.1f}" stroke="{GRID}"/>')
        body.append(
            f'<text x="{left - 6}" y="{y + 4:.1f}" text-anchor="end" font-size="11" fill="{AXIS}">'
            f"{escape(axis_format(tick))}</text>"
        )
    slot = plot_w / max(len(bars), 1)
    bar_w = min(56.0, slot * 0.62)
    for i, bar in enumerate(bars):
        h = float(Decimal(bar.value) / peak) * plot_h if peak else 0.0
        x = left + slot * i + (slot - bar_w) / 2
        y = top + plot_h - h
        tip = escape(bar.title or f"{bar.label}: {value_format(bar.value)}")
        body.append(
            f'<rect class="bar" x="{x:.1f}" y="{y:.1f}" width="{bar_w:.1f}" height="{max(h, 0.5):.1f}" '
            f'rx="3" fill="{escape(bar.colour)}"><title>{tip}</title></rect>'
        )
        body.append(
            f'<text x="{x + bar_w / 2:.1f}" y="{y - 5:.1f}" text-anchor="middle" font-size="11" '
            f'font-weight="600" fill="{TEXT}">{escape(value_format(bar.value))}</text>'
        )
        body.append(
            f'<text x="{x + bar_w / 2:.1f}" y="{top + plot_h + 16:.1f}" text-anchor="middle" font-size="12" '
            f'font-weight="600" fill="{TEXT}">{escape(bar.label)}</text>'
        )
        if bar.caption:
            body.append(
                f'<text x="{x + bar_w / 2:.1f}" y="{top + plot_h + 31:.1f}" text-anchor="middle" font-size="10" '
                f'fill="{AXIS}">{escape(bar.caption)}</text>'
            )
    body.append(f'<line x1="{left}" x2="{width - right}" y1="{top + plot_h}" y2="{top + plot_h}" stroke="{AXIS}"/>')
    return _svg(width, height, label, body)


def line_chart(
    x_labels: Sequence[str],
    series: Sequence[Series],
    *,
    label: str,
    width: int = 560,
    height: int = 240,
    axis_format: Callable[[Decimal], str] = compact,
    value_format: Callable[[Decimal], str] = compact,
    every: int | None = None,
) -> SafeString:
    """One line per series over the same x labels; a ``None`` value leaves a gap."""
    left, right, top, bottom = 52, 26, 30, 30
    plot_w, plot_h = width - left - right, height - top - bottom
    values = [v for s in series for v in s.values if v is not None]
    peak = nice_ceiling(max(values, default=Decimal(0)))
    n = len(x_labels)
    step = plot_w / max(n - 1, 1)
    body = []
    for k in range(5):
        tick = peak * k / 4
        y = top + plot_h - float(tick / peak) * plot_h
        body.append(f'<line x1="{left}" x2="{width - right}" y1="{y:.1f}" y2="{y:.1f}" stroke="{GRID}"/>')
        body.append(
            f'<text x="{left - 6}" y="{y + 4:.1f}" text-anchor="end" font-size="11" fill="{AXIS}">'
            f"{escape(axis_format(tick))}</text>"
        )
    every = every or max(1, round(n / 6))
    for i, text in enumerate(x_labels):
        if i % every == 0 or i == n - 1:
            x = left + step * i
            body.append(
                f'<text x="{x:.1f}" y="{height - 10}" text-anchor="middle" font-size="11" fill="{AXIS}">{escape(text)}</text>'
            )
    legend_x = left
    for s in series:
        body.append(f'<rect x="{legend_x}" y="8" width="12" height="12" rx="2" fill="{escape(s.colour)}"/>')
        body.append(f'<text x="{legend_x + 17}" y="18" font-size="12" fill="{TEXT}">{escape(s.name)}</text>')
        legend_x += 24 + text_width(s.name)
        segments: list[list[str]] = [[]]
        for i, v in enumerate(s.values):
            if v is None:
                segments.append([])
                continue
            x = left + step * i
            y = top + plot_h - float(Decimal(v) / peak) * plot_h
            segments[-1].append(f"{x:.1f},{y:.1f}")
            body.append(
                f'<circle class="point" cx="{x:.1f}" cy="{y:.1f}" r="2.6" fill="{escape(s.colour)}">'
                f"<title>{escape(x_labels[i])} — {escape(s.name)}: {escape(value_format(v))}</title></circle>"
            )
        for points in segments:
            if len(points) > 1:
                body.append(
                    f'<polyline class="line" fill="none" stroke="{escape(s.colour)}" stroke-width="2.2" '
                    f'stroke-linejoin="round" points="{" ".join(points)}"/>'
                )
    body.append(f'<line x1="{left}" x2="{width - right}" y1="{top + plot_h}" y2="{top + plot_h}" stroke="{AXIS}"/>')
    return _svg(width, height, label, body)

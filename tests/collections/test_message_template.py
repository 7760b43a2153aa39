"""Reminder and notice messages: ``template_compile``'s fast path (text and plain ``{{ name }}``
variables) renders exactly what Django's template engine renders, and anything else goes the Django
way; references stay 12 Crockford base-32 characters."""
from __future__ import annotations

import datetime as dt
import re
from decimal import Decimal

import pytest
from django.template import Context, Template
from django.utils import translation

from core.refs import new_reference
from debt_collection.services import template_compile

CONTEXT = {"customer_name": "张*", "account": "ACC123", "amount_due": Decimal("1234.50"), "days": 3,
           "due_date": dt.date(2026, 3, 14), "big": 1234567, "none": None, "html": "<b>&'\"</b>", "flag": True,
           "when": dt.datetime(2026, 3, 14, 8, 0, tzinfo=dt.UTC), "f": 0.1 + 0.2, "zero": Decimal("0.00"), "fmt": "Y"}
TEMPLATES = [
    "",
    "plain text only",
    "{{ customer_name }}，您的账户 {{ account }} 应还 ¥{{ amount_due }}，还款日 {{ due_date }}（{{ days }} 天）",
    "{{ big }} {{ none }} {{ html }} {{ flag }} {{ when }} {{ f }}",
    "{{ missing }} x",  # missing: the Django way
    # the default reminder texts: pure filters of literal arguments and {% if name %} … {% else %} … {% endif %}
    "【白条】尊敬的{{ customer_name }}，您的账单（账户 {{ account }}）应还 ¥{{ amount_due }}{% if minimum_payment %}，"
    "最低还款 ¥{{ minimum_payment }}{% endif %}，还款日 {{ due_date|date:'Y-m-d' }}{% if days %}（还有 {{ days }} 天）"
    "{% else %}（今天）{% endif %}。",
    "{{ amount_due|floatformat:2 }} {{ none|default:'-' }} {{ html|upper }} {{ when|date:'Y-m-d H:i' }}",
    "{% if none %}a{% elif days %}b{% else %}c{% endif %}{% if zero %}x{% else %}y{% endif %}",
    "{% if missing %}a{% endif %}",  # missing: the Django way
    "{% if days > 2 %}soon{% endif %} {{ account }}",  # an operator: the Django way
    "{{ due_date|date:fmt }}",  # a filter argument from the context
    "{{ due_date.year }}",  # dotted look-up
    "{{ 'literal' }} {{ 42 }}",
    "{% load l10n %}{{ amount_due|unlocalize }}",  # a filter not known to be pure
    "{% for c in account %}{{ c }}{% endfor %}",  # another tag
]
FAST = 9  # TEMPLATES[:FAST] take the fast path (a missing variable falls back when rendered)


@pytest.mark.parametrize("language", ["en", "zh-hans"])
@pytest.mark.parametrize("autoescape", [False, True])
@pytest.mark.parametrize("body", TEMPLATES)
def test_the_fast_path_renders_what_django_renders(body, autoescape, language, settings):
    settings.USE_THOUSAND_SEPARATOR = True
    with translation.override(language):
        expected = Template(body).render(Context(CONTEXT, autoescape=autoescape))
        compiled = template_compile(body)
        assert compiled.render(Context(CONTEXT, autoescape=autoescape)) == expected
        assert compiled.render(Context(CONTEXT, autoescape=autoescape)) == expected  # the kept outputs


def test_only_plain_templates_take_the_fast_path():
    for body in TEMPLATES[:FAST]:
        assert template_compile(body)._parts is not None, body
    for body in TEMPLATES[FAST:]:
        assert template_compile(body)._parts is None, body


def test_a_kept_output_is_not_given_for_an_equal_value_that_prints_differently():
    template = template_compile("{{ amount_due }} {{ flag }}")
    assert template.render(Context({"amount_due": Decimal("1.0"), "flag": 1})) == "1.0 1"
    assert template.render(Context({"amount_due": Decimal("1.00"), "flag": True})) == "1.00 True"
    with translation.override("en"):
        english = template_compile("{{ d|date:'N j' }}").render(Context({"d": dt.date(2026, 3, 14)}))
    with translation.override("zh-hans"):
        chinese = template_compile("{{ d|date:'N j' }}").render(Context({"d": dt.date(2026, 3, 14)}))
    assert english != chinese


def test_references_are_twelve_crockford_characters_and_differ():
    refs = {new_reference() for _ in range(20000)}
    assert len(refs) == 20000
    assert all(re.fullmatch(r"[0-9A-HJKMNP-TV-Z]{12}", r) for r in refs)
    assert {r[0] for r in refs} == set("0123456789ABCDEFGHJKMNPQRSTVWXYZ")  # every character in every place
    assert {r[-1] for r in refs} == set("0123456789ABCDEFGHJKMNPQRSTVWXYZ")

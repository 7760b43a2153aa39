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
           "when": dt.datetime(2026, 3, 14, 8, 0, tzinfo=dt.UTC), "f": 0.1 + 0.2}
TEMPLATES = [
    "",
    "plain text only",
    "{{ customer_name }}，您的账户 {{ account }} 应还 ¥{{ amount_due }}，还款日 {{ due_date }}（{{ days }} 天）",
    "{{ big }} {{ none }} {{ html }} {{ flag }} {{ when }} {{ f }}",
    "{{ missing }} x",  # missing: the Django way
    "{{ amount_due|floatformat:2 }}",  # filters
    "{% if days %}soon{% endif %} {{ account }}",  # tags
    "{{ due_date.year }}",  # dotted look-up
    "{{ 'literal' }} {{ 42 }}",
    "{% load l10n %}{{ amount_due|unlocalize }}",
]


@pytest.mark.parametrize("language", ["en", "zh-hans"])
@pytest.mark.parametrize("autoescape", [False, True])
@pytest.mark.parametrize("body", TEMPLATES)
def test_the_fast_path_renders_what_django_renders(body, autoescape, language, settings):
    settings.USE_THOUSAND_SEPARATOR = True
    with translation.override(language):
        expected = Template(body).render(Context(CONTEXT, autoescape=autoescape))
        assert template_compile(body).render(Context(CONTEXT, autoescape=autoescape)) == expected


def test_only_plain_templates_take_the_fast_path():
    assert template_compile(TEMPLATES[2])._parts is not None
    for body in TEMPLATES[5:]:
        assert template_compile(body)._parts is None, body


def test_references_are_twelve_crockford_characters_and_differ():
    refs = {new_reference() for _ in range(20000)}
    assert len(refs) == 20000
    assert all(re.fullmatch(r"[0-9A-HJKMNP-TV-Z]{12}", r) for r in refs)
    assert {r[0] for r in refs} == set("0123456789ABCDEFGHJKMNPQRSTVWXYZ")  # every character in every place
    assert {r[-1] for r in refs} == set("0123456789ABCDEFGHJKMNPQRSTVWXYZ")

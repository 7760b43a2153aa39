"""Simplified Chinese staff screens: the catalogue is complete and compiled, every model, field and
choice name is translated, the language chooser and the browser's language switch the admin, and
English stays English."""
from __future__ import annotations

import re
from pathlib import Path

import polib
import pytest
from django.apps import apps
from django.contrib.messages import get_messages
from django.core.management import call_command
from django.urls import reverse
from django.utils import translation

from core.i18n import derived_names
from tests.factories import CreditAccountFactory
from tests.factories_staff import role_user

ROOT = Path(__file__).resolve().parents[2]
PO = ROOT / "locale" / "zh_Hans" / "LC_MESSAGES" / "django.po"
MO = PO.with_suffix(".mo")
PROJECT_APPS = {"core", "integrations", "accounts", "ledger", "installments", "cob", "collections", "risk", "privacy", "staff"}
CJK = re.compile(r"[\u4e00-\u9fff]")
PLACEHOLDER = re.compile(r"%\(\w+\)s|%%")
#: Names that read the same in Chinese (codes, acronyms).
SAME_IN_CHINESE = {"ID", "API", "SMS", "YYYY-MM-DD", "—", "0.000500 = 0.05 % a day.", "HTTP Accept"}


def _catalogue() -> polib.POFile:
    return polib.pofile(str(PO))


def test_every_entry_is_translated_with_the_same_placeholders():
    po = _catalogue()
    assert po.percent_translated() == 100 and not po.fuzzy_entries() and not po.obsolete_entries()
    for entry in po:
        translations = entry.msgstr_plural.values() if entry.msgid_plural else [entry.msgstr]
        for text in translations:
            assert sorted(PLACEHOLDER.findall(text)) == sorted(PLACEHOLDER.findall(entry.msgid)), entry.msgid
            assert CJK.search(text) or text in SAME_IN_CHINESE or not re.search(r"[a-z]{3}", text), entry.msgid


def test_the_compiled_catalogue_is_the_po_file():
    """``scripts/compile_messages.py`` was run after the last change of the .po file."""
    compiled = {(e.msgid, e.msgid_plural): (e.msgstr, dict(e.msgstr_plural)) for e in polib.mofile(str(MO)) if e.msgid}
    source = {(e.msgid, e.msgid_plural): (e.msgstr, {int(k): v for k, v in e.msgstr_plural.items()})
              for e in _catalogue() if e.translated()}
    assert compiled == source


def test_the_derived_names_file_is_current_and_in_the_catalogue():
    call_command("i18n_names", "--check")
    msgids = {e.msgid for e in _catalogue()}
    assert set(derived_names()) <= msgids
    assert {"bill day", "credit account", "credit accounts", "late fees"} <= set(derived_names())


def _names_of_the_project():
    for model in apps.get_models():
        opts = model._meta
        if opts.app_label not in PROJECT_APPS or model.__name__.startswith("Historical"):
            continue
        yield f"{opts.label}", opts.verbose_name
        yield f"{opts.label} (plural)", opts.verbose_name_plural
        for field in opts.get_fields(include_hidden=False):
            if getattr(field, "verbose_name", None) is not None and not field.auto_created:
                yield f"{opts.label}.{field.name}", field.verbose_name
            for value, label in getattr(field, "flatchoices", None) or []:
                yield f"{opts.label}.{field.name}={value}", label


def test_every_model_field_and_choice_name_of_the_project_reads_in_chinese():
    untranslated = []
    with translation.override("zh-hans"):
        for where, name in _names_of_the_project():
            text = str(name)
            if not CJK.search(text) and text not in SAME_IN_CHINESE and re.search(r"[a-z]{3}", text):
                untranslated.append(f"{where}: {text}")
    assert untranslated == []


def test_english_stays_english():
    from accounts.models import CreditAccount

    with translation.override("en"):
        assert str(CreditAccount._meta.verbose_name_plural) == "credit accounts"
        assert str(CreditAccount._meta.get_field("bill_day").verbose_name) == "bill day"
        assert CreditAccount.Status.FROZEN.label == "Frozen"
    with translation.override("zh-hans"):
        assert str(CreditAccount._meta.verbose_name_plural) == "信用账户"
        assert str(CreditAccount._meta.get_field("bill_day").verbose_name) == "账单日"
        assert CreditAccount.Status.FROZEN.label == "已冻结"


@pytest.mark.django_db
def test_wrapping_names_in_gettext_lazy_needs_no_migration():
    call_command("makemigrations", "--check", "--dry-run", verbosity=0)


@pytest.mark.django_db
def test_the_language_chooser_switches_the_admin_and_remembers_the_choice(client):
    user = role_user("Credit officer", "olivia")
    client.force_login(user)
    english = client.get(reverse("admin:index")).content.decode()
    assert "Customers &amp; credit lines" in english and 'id="language-chooser"' in english
    assert '<option value="zh-hans"' in english and "简体中文" in english

    response = client.post(reverse("set_language"), {"language": "zh-hans", "next": reverse("admin:index")})
    assert response.status_code == 302 and response.cookies["django_language"].value == "zh-hans"
    chinese = client.get(reverse("admin:index")).content.decode()
    assert '<html lang="zh-hans"' in chinese
    assert "客户与额度" in chinese and "信贷管理后台" in chinese and "营业日期" in chinese
    assert "Customers &amp; credit lines" not in chinese

    client.post(reverse("set_language"), {"language": "en", "next": reverse("admin:index")})
    assert "Customers &amp; credit lines" in client.get(reverse("admin:index")).content.decode()


@pytest.mark.django_db
def test_a_browser_asking_for_chinese_gets_chinese_until_staff_choose(client, business_date):
    CreditAccountFactory()
    client.force_login(role_user("Credit officer", "olivia"))
    page = client.get(reverse("admin:accounts_creditaccount_changelist"), HTTP_ACCEPT_LANGUAGE="zh-CN,zh;q=0.9")
    html = page.content.decode()
    assert "信用账户" in html and "固定额度" in html and "可用额度" in html
    client.cookies["django_language"] = "en"
    html = client.get(reverse("admin:accounts_creditaccount_changelist"), HTTP_ACCEPT_LANGUAGE="zh-CN").content.decode()
    assert "Credit accounts" in html and "信用账户" not in html


@pytest.mark.django_db
def test_an_action_and_its_message_are_translated(client, business_date):
    account = CreditAccountFactory()
    client.force_login(role_user("Credit officer", "olivia"))
    client.cookies["django_language"] = "zh-hans"
    url = reverse("admin:accounts_creditaccount_changelist")
    form = client.post(url, {"action": "freeze", "_selected_action": [account.pk]}).content.decode()
    assert "冻结（人工）" in form and "应用" in form
    response = client.post(url, {"action": "freeze", "_selected_action": [account.pk], "_form_action_apply": "1",
                                 "reason": "客户报告手机丢失"})
    assert [str(m) for m in get_messages(response.wsgi_request)] == ["冻结（人工）：已完成 1 项。"]
    account.refresh_from_db()
    assert account.status == "frozen"

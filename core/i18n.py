"""Translation of the names Django derives by itself.

A field without ``verbose_name`` is labelled with its attribute name (``bill_day`` → "bill day"), a model
without ``Meta.verbose_name`` with its class name ("credit account"/"credit accounts"). Those derived
names are plain strings, so the admin would show them in English whatever the language. At start-up
:func:`translate_derived_names` replaces each with a lazy translation of the same English text; the
msgids live in ``core/i18n_names.py`` (written by ``manage.py i18n_names``; a test checks it is
current). Migrations are unaffected: they read the arguments the code gave (``Field._verbose_name``,
``Meta`` attributes), not these.
"""
from __future__ import annotations

from django.utils.functional import Promise
from django.utils import translation
from django.utils.translation import gettext_lazy


DERIVED: set[str] = set()  # the English names replaced at start-up (the msgids of core/i18n_names.py)
SKIP_APPS = {"auth", "contenttypes", "sessions", "admin"}  # Django translates its own
#: Third-party apps shown to staff that ship no Simplified Chinese: their (already lazy) names go into our
#: catalogue too, which Django consults first (LOCALE_PATHS).
UNTRANSLATED_APPS = {"axes"}


def derived_names() -> list[str]:
    """Every model and field name Django derived (not given in the code), sorted."""
    return sorted(n for n in DERIVED if any(c.isalpha() for c in n))


def _lazy(value) -> Promise:
    with translation.override("en"):
        text = str(value)
    DERIVED.add(text)
    return gettext_lazy(text)


def translate_derived_names() -> None:
    from django.apps import apps

    for model in apps.get_models(include_auto_created=True):
        opts = model._meta
        if opts.app_label in SKIP_APPS:
            continue
        if opts.app_label in UNTRANSLATED_APPS:
            with translation.override("en"):
                DERIVED.update(str(v) for v in (opts.verbose_name, opts.verbose_name_plural))
                DERIVED.update(str(f.verbose_name) for f in opts.get_fields(include_hidden=False)
                               if getattr(f, "verbose_name", None) is not None)
            continue
        if isinstance(opts.verbose_name, str):
            opts.verbose_name = _lazy(opts.verbose_name)
        if "verbose_name_plural" not in opts.original_attrs:
            opts.verbose_name_plural = _lazy(opts.verbose_name_plural)
        for field in opts.get_fields(include_hidden=False):
            if isinstance(getattr(field, "verbose_name", None), str):
                field.verbose_name = _lazy(field.verbose_name)

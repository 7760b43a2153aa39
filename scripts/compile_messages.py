"""Compile every ``locale/*/LC_MESSAGES/django.po`` into its ``.mo`` with polib (pure Python, pinned in
requirements-dev.txt), so neither a developer nor CI needs the system ``gettext`` tools. The ``.mo`` files
are committed: ``make run`` and production read them as they are. ``tests/core/test_i18n.py`` fails when a
``.mo`` is out of date with its ``.po``.

    .venv/bin/python scripts/compile_messages.py
"""
from __future__ import annotations

from pathlib import Path

import polib

ROOT = Path(__file__).resolve().parent.parent


def catalogues() -> list[Path]:
    return sorted((ROOT / "locale").glob("*/LC_MESSAGES/django.po"))


def main() -> None:
    for po_path in catalogues():
        po = polib.pofile(str(po_path))
        po.save_as_mofile(str(po_path.with_suffix(".mo")))
        print(f"{po_path.relative_to(ROOT)}: {len(po.translated_entries())} translated, "
              f"{len(po.untranslated_entries())} untranslated, {len(po.fuzzy_entries())} fuzzy")


if __name__ == "__main__":
    main()

"""History pages without a revert: every write goes through a service (validated, audited), so an
old version is read, never saved back from the admin — by anyone, superusers included.

django-simple-history's version page saves the posted version for anyone who may *view* the
history (``SIMPLE_HISTORY_REVERT_DISABLED`` only hides its button); :class:`HistoryAdmin` refuses
that POST with 403."""
from __future__ import annotations

from django.core.exceptions import PermissionDenied
from simple_history.admin import SimpleHistoryAdmin


class HistoryAdmin(SimpleHistoryAdmin):
    def revert_disabled(self, request, obj=None):
        return True

    def history_form_view(self, request, object_id, version_id, extra_context=None):
        if request.method not in ("GET", "HEAD"):
            raise PermissionDenied("Old versions are read-only: changes go through the screens' services.")
        return super().history_form_view(request, object_id, version_id, extra_context)

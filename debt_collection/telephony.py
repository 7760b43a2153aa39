"""Click-to-call through a telephony gateway: one :class:`Dialler` interface, one class per provider,
chosen by ``settings.COLLECTIONS_DIALLER`` (a dotted path, or ``{"BACKEND": …, "OPTIONS": {…}}``).

The default is :class:`LoggingDialler` (development and tests): it places no call, it records the
request (in :attr:`LoggingDialler.calls` and the ``debt_collection.telephony`` logger) and answers
with a call id. A real provider (a cloud call centre, the office PBX) is a subclass whose
:meth:`Dialler.dial` asks the provider to ring the collector's extension and bridge it to the debtor,
returning the provider's call id, or raising :class:`DiallerError` (the number is still shown as a
``tel:`` link, so the collector can dial by hand)::

    COLLECTIONS_DIALLER = {"BACKEND": "myco.telephony.CloudCallDialler", "OPTIONS": {"endpoint": "…"}}

Which cases may be called, the reveal of the number and its log are the service's business
(``services.case_call_start``), not the dialler's."""
from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.utils.module_loading import import_string

logger = logging.getLogger(__name__)

DEFAULT_DIALLER = "debt_collection.telephony.LoggingDialler"


class DiallerError(Exception):
    """The provider could not start the call (busy line, provider down, number refused)."""


@dataclass(frozen=True)
class OutgoingCall:
    number: str
    case_reference: str
    customer_reference: str
    collector_username: str
    idempotency_key: str


class Dialler:
    """Subclass and implement :meth:`dial`."""

    def __init__(self, **options: Any) -> None:
        self.options = options

    def dial(self, call: OutgoingCall) -> str:  # pragma: no cover - interface
        """Start the call; return the provider's call id."""
        raise NotImplementedError


class LoggingDialler(Dialler):
    """Places no call: records it in :attr:`calls` and the log (development, tests, demos)."""

    calls: list[OutgoingCall] = []

    def dial(self, call: OutgoingCall) -> str:
        LoggingDialler.calls.append(call)
        logger.info("click-to-call: case %s, collector %s (%s)", call.case_reference, call.collector_username,
                    call.idempotency_key)
        return f"logging:{len(LoggingDialler.calls)}"


def get_dialler() -> Dialler:
    """The configured dialler (a fresh instance per call: settings may change in tests)."""
    spec = getattr(settings, "COLLECTIONS_DIALLER", None) or DEFAULT_DIALLER
    if isinstance(spec, str):
        path, options = spec, {}
    else:
        path, options = spec["BACKEND"], dict(spec.get("OPTIONS") or {})
    return import_string(path)(**options)

"""One gateway interface for reminder channels (SMS, e-mail, in-app), with back ends chosen by settings.

``settings.REMINDER_GATEWAY_BACKENDS`` maps a channel to a back end, either a dotted path or
``{"BACKEND": "dotted.path", "OPTIONS": {...}}``; channels not listed use :data:`DEFAULT_BACKENDS`::

    REMINDER_GATEWAY_BACKENDS = {
        "sms": "debt_collection.gateway.ConsoleBackend",
        "email": "debt_collection.gateway.EmailBackend",
        "in_app": {"BACKEND": "debt_collection.gateway.FileBackend", "OPTIONS": {"directory": "var/reminders"}},
    }

A back end's ``send`` returns the provider's message id, or raises :class:`TransientGatewayError`
(network trouble, throttling, provider 5xx: the delivery task retries with backoff) or
:class:`PermanentGatewayError` (bad number, rejected address, content refused: the message is marked
failed at once). Any other exception is treated as permanent — a bug must not turn into a resend loop.
Each message carries ``idempotency_key`` (stable per message): a provider that supports it can drop a
duplicate if a worker crashed between the provider's acceptance and our record of it.
"""
from __future__ import annotations

import json
import smtplib
import sys
import threading
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from django.conf import settings
from django.core.mail import EmailMessage
from django.utils import timezone
from django.utils.module_loading import import_string


class GatewayError(Exception):
    """A sending failure. ``transient``: worth retrying later."""

    transient = False


class TransientGatewayError(GatewayError):
    transient = True


class PermanentGatewayError(GatewayError):
    transient = False


@dataclass(frozen=True)
class OutgoingMessage:
    channel: str
    recipient: str
    subject: str
    body: str
    idempotency_key: str
    customer_reference: str = ""


class BaseBackend:
    """Subclass and implement :meth:`send`."""

    def __init__(self, **options: Any) -> None:
        self.options = options

    def send(self, message: OutgoingMessage) -> str:  # pragma: no cover - interface
        raise NotImplementedError


class ConsoleBackend(BaseBackend):
    """Writes each message to standard output (development)."""

    def send(self, message: OutgoingMessage) -> str:
        stream = self.options.get("stream") or sys.stdout
        stream.write(
            f"[{message.channel}] to {message.recipient} ({message.idempotency_key})"
            + (f" — {message.subject}" if message.subject else "") + f"\n{message.body}\n"
        )
        stream.flush()
        return f"console:{message.idempotency_key}"


class FileBackend(BaseBackend):
    """Appends one JSON line per message to ``<directory>/<channel>.jsonl`` (default ``var/reminders``)."""

    _lock = threading.Lock()

    def directory(self) -> Path:
        return Path(self.options.get("directory") or Path(settings.VAR_DIR) / "reminders")

    def send(self, message: OutgoingMessage) -> str:
        directory = self.directory()
        try:
            directory.mkdir(parents=True, exist_ok=True)
            line = json.dumps({**asdict(message), "sent_at": timezone.now().isoformat()}, ensure_ascii=False)
            with self._lock, open(directory / f"{message.channel}.jsonl", "a", encoding="utf-8") as fh:
                fh.write(line + "\n")
        except OSError as exc:  # a full disk or a missing mount passes
            raise TransientGatewayError(f"cannot write to {directory}: {exc}") from exc
        return f"file:{message.idempotency_key}"


class EmailBackend(BaseBackend):
    """Sends through Django's mail framework (``EMAIL_BACKEND``: SMTP in production)."""

    def send(self, message: OutgoingMessage) -> str:
        if "@" not in message.recipient:
            raise PermanentGatewayError("no valid e-mail address")
        email = EmailMessage(
            subject=message.subject or "Payment reminder",
            body=message.body,
            from_email=self.options.get("from_email") or None,
            to=[message.recipient],
            headers={"X-Reminder-Id": message.idempotency_key},
        )
        try:
            sent = email.send(fail_silently=False)
        except smtplib.SMTPRecipientsRefused as exc:
            raise PermanentGatewayError(f"recipient refused: {exc}") from exc
        except smtplib.SMTPResponseException as exc:
            if 500 <= exc.smtp_code < 600:
                raise PermanentGatewayError(f"SMTP {exc.smtp_code}: {exc.smtp_error!r}") from exc
            raise TransientGatewayError(f"SMTP {exc.smtp_code}: {exc.smtp_error!r}") from exc
        except (OSError, smtplib.SMTPException, TimeoutError) as exc:
            raise TransientGatewayError(f"mail server unavailable: {exc}") from exc
        if not sent:
            raise TransientGatewayError("the mail backend sent nothing")
        return f"email:{message.idempotency_key}"


class MemoryBackend(BaseBackend):
    """Keeps messages in :data:`outbox` (tests and demos, like Django's locmem e-mail backend)."""

    outbox: list[OutgoingMessage] = []

    def send(self, message: OutgoingMessage) -> str:
        MemoryBackend.outbox.append(message)
        return f"memory:{len(MemoryBackend.outbox)}"


DEFAULT_BACKENDS: dict[str, str] = {
    "sms": "debt_collection.gateway.ConsoleBackend",
    "email": "debt_collection.gateway.EmailBackend",
    "in_app": "debt_collection.gateway.FileBackend",
}


def get_backend(channel: str) -> BaseBackend:
    """A back end instance for ``channel`` (a fresh one per call: settings may change in tests)."""
    configured = {**DEFAULT_BACKENDS, **getattr(settings, "REMINDER_GATEWAY_BACKENDS", {})}
    spec = configured.get(channel)
    if spec is None:
        raise PermanentGatewayError(f"no gateway back end for channel {channel!r}")
    if isinstance(spec, str):
        path, options = spec, {}
    else:
        path, options = spec["BACKEND"], dict(spec.get("OPTIONS") or {})
    return import_string(path)(**options)


def send(message: OutgoingMessage) -> str:
    """Send one message through its channel's back end."""
    return get_backend(message.channel).send(message)

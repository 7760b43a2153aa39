"""Re-encrypt every encrypted personal-data value under the newest key.

Rotation: put a new key first in ``FIELD_ENCRYPTION_KEYS`` (keep the old ones after it), deploy,
run this command, check it reports nothing undecryptable, then remove the old keys."""
from django.core.management.base import BaseCommand, CommandError

from core.errors import ApplicationError
from privacy.services import pii_keys_rotate


class Command(BaseCommand):
    help = "Re-encrypt every encrypted value under the newest FIELD_ENCRYPTION_KEYS key (chunked, idempotent)."

    def add_arguments(self, parser):
        parser.add_argument("--chunk-size", type=int, default=500)

    def handle(self, *args, chunk_size: int, **options):
        if chunk_size < 1:
            raise CommandError("--chunk-size must be at least 1")
        try:
            counts = pii_keys_rotate(chunk_size=chunk_size)
        except ApplicationError as exc:
            raise CommandError(exc.message) from exc
        failed = 0
        for label, tally in counts.items():
            self.stdout.write(
                f"{label}: {tally['rotated']} re-encrypted, {tally['current']} already current, "
                f"{tally['undecryptable']} undecryptable"
            )
            failed += tally["undecryptable"]
        if failed:
            raise CommandError(f"{failed} value(s) could not be decrypted with any configured key: keep the old keys.")
        self.stdout.write(self.style.SUCCESS("All encrypted values are under the newest key."))

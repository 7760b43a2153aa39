"""Public references: short, unguessable, human-readable ids shown to staff and customers."""
import secrets

_ALPHABET = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"  # Crockford base32: no I, L, O, U


def new_reference() -> str:
    return "".join(secrets.choice(_ALPHABET) for _ in range(12))

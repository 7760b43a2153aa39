"""Who did something: a staff user, or ``system`` with the rule or model version that decided."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Actor:
    user: Any = None
    rule: str = ""

    @classmethod
    def staff(cls, user) -> Actor:
        if user is None or not getattr(user, "pk", None):
            raise ValueError("a staff actor needs a saved user")
        return cls(user=user)

    @classmethod
    def system(cls, rule: str) -> Actor:
        if not rule:
            raise ValueError("a system actor names the rule or model version that decided")
        return cls(rule=rule)

    @property
    def is_system(self) -> bool:
        return self.user is None

    def log_fields(self) -> dict[str, Any]:
        """Fields for a log row: ``actor`` (user or None) and ``actor_rule``."""
        return {"actor": self.user, "actor_rule": self.rule if self.is_system else ""}

    def __str__(self) -> str:
        return f"system ({self.rule})" if self.is_system else str(self.user)

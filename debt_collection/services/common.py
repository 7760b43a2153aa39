"""Helpers shared by the collections services: who is acting, and access checks."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from core.actors import Actor
from core.errors import PermissionDeniedError
from debt_collection.models import Agency, CollectionCase
from debt_collection.selectors import case_accessible_by, user_is_manager


@dataclass(frozen=True)
class Author:
    """Who works a case: a staff user (collector or manager) or an agency (through its API client,
    whose service user is ``user``)."""

    user: Any = None
    agency: Agency | None = None

    @classmethod
    def staff(cls, user) -> Author:
        if user is None or not getattr(user, "pk", None):
            raise ValueError("a staff author needs a saved user")
        return cls(user=user)

    @classmethod
    def for_agency(cls, agency: Agency, *, user=None) -> Author:
        return cls(user=user, agency=agency)

    @property
    def actor(self) -> Actor:
        if self.user is not None:
            return Actor.staff(self.user)
        return Actor.system(f"agency:{self.agency.reference}")

    def fields(self) -> dict[str, Any]:
        return {"user": self.user, "agency": self.agency}


def ensure_case_access(case: CollectionCase, author: Author) -> None:
    """Object permission, enforced in every service that works a case: the assigned collector, the
    assigned agency or a manager — anyone else is refused (and nothing is written)."""
    if not case_accessible_by(case, user=author.user if author.agency is None else None, agency=author.agency):
        raise PermissionDeniedError("This case is not assigned to you.", code="case_not_yours")


def ensure_manager(actor: Actor) -> None:
    if actor.is_system:
        return
    if not user_is_manager(actor.user):
        raise PermissionDeniedError("Only collections managers may do this.", code="manager_only")

"""Audit of role changes: group membership, direct permissions and the staff/superuser flags of
staff users. Django's admin changes these through the framework (``user.groups.set()``), so the
framework's signals are the one place every change passes; the audit row names the staff user of
the current request (kept by simple-history's middleware) or says it came from outside a request."""
from __future__ import annotations

from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group, Permission
from django.db.models.signals import m2m_changed, post_save, pre_save

from core.actors import Actor
from core.audit import audit_record

ROLE_FLAGS = ("is_superuser", "is_staff", "is_active")
OUTSIDE_REQUEST_RULE = "outside a request (shell, command or migration)"


def request_actor() -> tuple[Actor, str]:
    """Who changed a user or group (the staff member of the request under way, else the system) and where:
    ``in POST /admin/…`` or ``outside a request``. The role audit and the credential audit both read it."""
    try:
        from simple_history.models import HistoricalRecords

        request = getattr(HistoricalRecords.context, "request", None)
    except ImportError:  # pragma: no cover
        request = None
    user = getattr(request, "user", None)
    if user is not None and user.is_authenticated:
        return Actor.staff(user), f"in {request.method} {request.path}"
    return Actor.system(OUTSIDE_REQUEST_RULE), "outside a request"


def _current_actor() -> tuple[Actor, str]:
    actor, where = request_actor()
    return actor, f"changed {where}"


def _names(model, pks) -> list[str]:
    if model is Group:
        return sorted(Group.objects.filter(pk__in=pks).values_list("name", flat=True))
    perms = Permission.objects.filter(pk__in=pks).select_related("content_type")
    return sorted(f"{p.content_type.app_label}.{p.codename}" for p in perms)


def _current(user, attr: str) -> list[str]:
    if attr == "groups":
        return sorted(user.groups.values_list("name", flat=True))
    return sorted(
        f"{app}.{code}" for app, code in user.user_permissions.values_list("content_type__app_label", "codename")
    )


def _on_m2m_changed(sender, instance, action, reverse, model, pk_set, attr: str, **kwargs):
    User = get_user_model()
    if action == "pre_clear":
        if reverse:  # ``group.user_set.clear()``
            instance._privacy_cleared_users = list(instance.user_set.values_list("pk", flat=True))
        else:
            instance._privacy_before_clear = _current(instance, attr)
        return
    if action not in ("post_add", "post_remove", "post_clear"):
        return
    actor, how = _current_actor()
    label = "groups" if attr == "groups" else "permissions"
    if reverse:  # ``group.user_set.add(...)``: one audit row per user
        user_pks = getattr(instance, "_privacy_cleared_users", []) if action == "post_clear" else (pk_set or ())
        name = _names(type(instance), [instance.pk])[0]
        for user in User.objects.filter(pk__in=user_pks):
            after = _current(user, attr)
            before = sorted(set(after) - {name}) if action == "post_add" else sorted(set(after) | {name})
            audit_record(actor=actor, action="role_change", obj=user, reason=f"{label} {how}",
                         old={label: before}, new={label: after})
        return
    after = _current(instance, attr)
    if action == "post_clear":
        before = getattr(instance, "_privacy_before_clear", [])
    else:
        changed = set(_names(model, pk_set or ()))
        before = sorted(set(after) - changed) if action == "post_add" else sorted(set(after) | changed)
    if before == after:
        return
    audit_record(actor=actor, action="role_change", obj=instance, reason=f"{label} {how}",
                 old={label: before}, new={label: after})


def _on_groups_changed(sender, **kwargs):
    _on_m2m_changed(sender, attr="groups", **kwargs)


def _on_permissions_changed(sender, **kwargs):
    _on_m2m_changed(sender, attr="user_permissions", **kwargs)


def _before_user_save(sender, instance, update_fields=None, raw=False, **kwargs):
    if raw or not instance.pk or (update_fields is not None and not set(update_fields) & set(ROLE_FLAGS)):
        return
    instance._privacy_old_flags = sender.objects.filter(pk=instance.pk).values(*ROLE_FLAGS).first()


def _after_user_save(sender, instance, created, raw=False, **kwargs):
    old = getattr(instance, "_privacy_old_flags", None)
    instance._privacy_old_flags = None
    if raw:
        return
    new = {flag: getattr(instance, flag) for flag in ROLE_FLAGS}
    if created:
        # A user created in a request (the admin's "add user") with a role is logged; fixtures and
        # ``createsuperuser`` are not requests and leave Django's own trail (the command line).
        actor, how = _current_actor()
        if (new["is_superuser"] or new["is_staff"]) and not actor.is_system:
            audit_record(actor=actor, action="role_change", obj=instance, reason=f"user created {how}", old=None, new=new)
        return
    if old is None or old == new:
        return
    actor, how = _current_actor()
    audit_record(actor=actor, action="role_change", obj=instance, reason=f"flags {how}", old=old, new=new)


def connect() -> None:
    User = get_user_model()
    m2m_changed.connect(_on_groups_changed, sender=User.groups.through, dispatch_uid="privacy_role_groups")
    m2m_changed.connect(
        _on_permissions_changed, sender=User.user_permissions.through, dispatch_uid="privacy_role_permissions"
    )
    pre_save.connect(_before_user_save, sender=User, dispatch_uid="privacy_role_flags_pre")
    post_save.connect(_after_user_save, sender=User, dispatch_uid="privacy_role_flags_post")

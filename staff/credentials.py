"""Staff logins and their credentials (PRODUCT §12, issue 23): no one sets another person's password.

* A new staff user is made without a password; they get a one-time **set-password link** by email (to
  their own address, unique across logins whatever the letter case) and choose the password on the
  set-password page. A reset is the same link. The link is never shown to the person who asked for it:
  whoever saw it could set the password and log in as that user.
* The link is Django's password-reset token (``default_token_generator``): it works once (setting the
  password changes the hash it is made from) and for ``PASSWORD_RESET_TIMEOUT`` seconds (3 days).
* A user's email, where the links go, is changed in the admin only while the user has never set a
  password (to fix a mistyped address before the first link is used); after that, by nobody else.
* Every credential event is one catalogued event in the audit trail (:data:`CREDENTIAL_EVENTS`); role
  changes (groups, permissions, ``is_staff``/``is_superuser``/``is_active``) are audited by
  ``privacy/roles.py`` as ``role_change``."""
from __future__ import annotations

from django.conf import settings
from django.contrib.auth import get_user_model, password_validation
from django.contrib.auth.tokens import default_token_generator
from django.core.mail import send_mail
from django.db import transaction
from django.db.models.functions import Lower
from django.db.models.signals import post_save, pre_save
from django.urls import reverse
from django.utils.encoding import force_bytes
from django.utils.http import urlsafe_base64_encode
from django.utils.translation import gettext as _

from core.actors import Actor
from core.audit import audit_record
from core.errors import BusinessRuleError, ConflictError, PermissionDeniedError, ValidationError
from core.masking import mask_email
from privacy.roles import request_actor

#: The audit trail's credential and role events of staff logins (action → what it records).
CREDENTIAL_EVENTS: dict[str, str] = {
    "staff_user_create": "a staff login made (no password; a set-password link follows)",
    "password_link_issue": "a one-time set-password link sent to the user's own email",  # nosec B105
    "password_link_use": "the user chose their password through the link (the link is spent)",  # nosec B105
    "password_change": "a password changed another way (the user's own change, a command)",  # nosec B105
    "email_change": "the address set-password links go to changed",
    "role_change": "groups, direct permissions, is_staff / is_superuser / is_active (privacy/roles.py)",
}

_AUDITED = "_credential_audited"  # set on a user instance whose password/email change a service recorded


def normalize_email(email: str) -> str:
    return (email or "").strip()


def email_taken(email: str, *, exclude_pk=None) -> bool:
    """Another login has this address (letter case ignored)."""
    qs = get_user_model().objects.annotate(email_ci=Lower("email")).filter(email_ci=email.lower())
    if exclude_pk is not None:
        qs = qs.exclude(pk=exclude_pk)
    return bool(email) and qs.exists()


def _check_email(email: str, *, exclude_pk=None) -> str:
    email = normalize_email(email)
    if not email or "@" not in email:
        raise ValidationError("A staff login needs its own email address: the set-password link goes there.",
                              code="email_required")
    if email_taken(email, exclude_pk=exclude_pk):
        raise ConflictError("Another login already uses this email address: one person, one login.",
                            code="email_taken")
    return email


@transaction.atomic
def staff_user_create(*, username: str, email: str, actor: Actor, base_url: str, first_name: str = "",
                      last_name: str = ""):
    """A staff login with no usable password; the set-password link is mailed to ``email``. Roles are
    given separately (by a superuser), each change audited."""
    User = get_user_model()
    username = (username or "").strip()
    if not username:
        raise ValidationError("A login needs a user name.", code="username_required")
    if User.objects.filter(username=username).exists():
        raise ConflictError("A login with this user name already exists.", code="username_taken")
    email = _check_email(email)
    user = User(username=username, email=email, first_name=first_name.strip(), last_name=last_name.strip(),
                is_staff=True, is_active=True)
    user.set_unusable_password()
    user.save()
    audit_record(actor=actor, action="staff_user_create", obj=user,
                 new={"username": username, "email": mask_email(email), "is_staff": True})
    password_link_issue(user=user, actor=actor, base_url=base_url, reason="new login")
    return user


def set_password_path(user) -> str:
    uid = urlsafe_base64_encode(force_bytes(user.pk))
    return reverse("staff_set_password", kwargs={"uidb64": uid, "token": default_token_generator.make_token(user)})


@transaction.atomic
def password_link_issue(*, user, actor: Actor, base_url: str, reason: str = "") -> None:
    """Mail ``user`` a one-time set-password link. The link is returned to nobody: only the user's own
    mailbox has it (whoever saw it could become that user)."""
    user = get_user_model().objects.select_for_update().get(pk=user.pk)
    if not user.is_active:
        raise BusinessRuleError("An inactive login gets no set-password link.", code="user_inactive")
    if not user.email:
        raise BusinessRuleError("This login has no email address to send the link to.", code="email_required")
    link = base_url.rstrip("/") + set_password_path(user)
    hours = settings.PASSWORD_RESET_TIMEOUT // 3600
    send_mail(
        subject=_("Set your password for the credit back office"),
        message=_("Hello %(name)s,\n\nchoose your password for the login \"%(username)s\" here (the link works "
                  "once, for %(hours)s hours):\n\n%(link)s\n\nIf you did not expect this, tell your manager.") % {
            "name": user.get_full_name() or user.get_username(), "username": user.get_username(), "hours": hours,
            "link": link},
        from_email=None, recipient_list=[user.email],
    )
    audit_record(actor=actor, action="password_link_issue", obj=user, reason=reason,
                 new={"sent_to": mask_email(user.email), "valid_hours": hours})


@transaction.atomic
def password_set_by_link(*, user, password: str) -> None:
    """The user sets their own password through a valid link (the view checks the token)."""
    user = get_user_model().objects.select_for_update().get(pk=user.pk)
    if not user.is_active:
        raise PermissionDeniedError("This login is inactive.", code="user_inactive")
    password_validation.validate_password(password, user)
    user.set_password(password)
    setattr(user, _AUDITED, True)
    user.save(update_fields=["password"])
    audit_record(actor=Actor.staff(user), action="password_link_use", obj=user, reason="set through a one-time link")


# --- Every other password or email change is caught where the framework saves it -------------------


def _before_user_save(sender, instance, update_fields=None, raw=False, **kwargs):
    instance._credential_old = None
    if raw or not instance.pk or getattr(instance, _AUDITED, False):
        return
    if update_fields is not None and not {"password", "email"} & set(update_fields):
        return
    instance._credential_old = sender.objects.filter(pk=instance.pk).values("password", "email").first()


def _after_user_save(sender, instance, created, raw=False, **kwargs):
    old = getattr(instance, "_credential_old", None)
    instance._credential_old = None
    if getattr(instance, _AUDITED, False):
        setattr(instance, _AUDITED, False)
        return
    if raw or created or old is None:
        return
    actor, how = request_actor()
    if old["password"] != instance.password:
        audit_record(actor=actor, action="password_change", obj=instance, reason=f"password changed {how}")
    if (old["email"] or "") != (instance.email or ""):
        audit_record(actor=actor, action="email_change", obj=instance, reason=f"email changed {how}",
                     old={"email": mask_email(old["email"])}, new={"email": mask_email(instance.email)})


def connect() -> None:
    User = get_user_model()
    pre_save.connect(_before_user_save, sender=User, dispatch_uid="staff_credentials_pre")
    post_save.connect(_after_user_save, sender=User, dispatch_uid="staff_credentials_post")

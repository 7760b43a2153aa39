"""Scope permission: a view lists ``required_scopes``; a token must grant all of them.

A staff session (``is_staff``, active) may make every read call; write calls (any method but GET,
HEAD, OPTIONS) need the permission ``integrations.call_write_api`` as well. A staff user who may not
read every customer (a collector: ``accounts.view_all_customers``) may not use the API at all. Views that mark themselves
``staff_session_allowed = False`` (e.g. an agency API) are for tokens only.

A money-moving scope (``integrations.scope_controls``) works only with a second person's approved grant;
while its grant waits the call answers 403 ``scope_awaiting_approval``. The grants used are kept on the
request (``request.api_scope_grants``) so that the call's audit row names who asked and who approved."""
from __future__ import annotations

from rest_framework import permissions

from core.errors import PermissionDeniedError
from integrations.models import ApiToken
from integrations.scope_controls import is_money_moving
from integrations.selectors import scope_grants_in_force, scopes_awaiting_approval

#: Held by every role that reads every customer (``staff.roles.ALL_CUSTOMERS``); not by collectors.
ALL_CUSTOMERS = "accounts.view_all_customers"


class HasScope(permissions.BasePermission):
    message = "This client may not make this call."

    def has_permission(self, request, view) -> bool:
        required = tuple(getattr(view, "required_scopes", ()))
        auth = request.auth
        if isinstance(auth, ApiToken):
            client = auth.client
            missing = [scope for scope in required if not client.has_scope(scope)]
            money = [scope for scope in required if is_money_moving(scope) and scope not in missing]
            if money:  # in force only with a second person's approval (issue 23): the grants, for the audit too
                grants = scope_grants_in_force(client=client, scopes=money)
                request.api_scope_grants = grants
                missing += [scope for scope in money if scope not in {g.scope for g in grants}]
            if missing:
                waiting = scopes_awaiting_approval(client=client, scopes=missing)
                if waiting:
                    raise PermissionDeniedError(
                        f"The scope(s) {', '.join(waiting)} of this client wait for a second person's approval.",
                        code="scope_awaiting_approval", details={"scopes": waiting},
                    )
                self.message = f"This client lacks the scope(s): {', '.join(missing)}."
                return False
            return True
        user = request.user
        if not (user and user.is_authenticated):
            return False  # → 401 (NotAuthenticated) through the authenticators
        if not getattr(view, "staff_session_allowed", True):
            self.message = "This call is for API clients only."
            return False
        if not (user.is_active and user.is_staff):
            self.message = "Only staff may use the API with a session."
            return False
        if not user.has_perm(ALL_CUSTOMERS):  # a collector reads their own cases' customers in the admin only
            self.message = "Your staff account may read only its own cases' customers, in the back office."
            return False
        if request.method not in permissions.SAFE_METHODS and not user.has_perm("integrations.call_write_api"):
            self.message = "Your staff account may not make write calls through the API."
            return False
        return True

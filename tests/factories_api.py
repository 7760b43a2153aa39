"""Factories and helpers for the integration API tests: clients with tokens, an authenticated client.

A money-moving scope (``integrations.scope_controls``) is never written onto a client directly: the
factory grants it through the real four-eyes path, :func:`grant_money_scopes_as_two_people` (an
administrator asks, a person of the approving role approves), so a client made here holds exactly what
the product would let two people give it."""
from __future__ import annotations

import factory
from django.contrib.auth import get_user_model
from rest_framework.test import APIClient

from core.actors import Actor
from integrations import services
from integrations.models import ApiClient
from integrations.scope_controls import is_money_moving, money_scope
from integrations.scopes import all_scopes
from tests.factories_staff import role_user


class ServiceUserFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = get_user_model()

    username = factory.Sequence(lambda n: f"api-test-{n}")
    is_staff = False


class ApiClientFactory(factory.django.DjangoModelFactory):
    """A client with ``scopes`` (all by default): the plain ones written at once, the money-moving ones
    granted through :func:`grant_money_scopes_as_two_people`."""

    class Meta:
        model = ApiClient

    name = factory.Sequence(lambda n: f"Client {n}")
    user = factory.SubFactory(ServiceUserFactory)
    scopes = factory.LazyFunction(lambda: sorted(all_scopes()))

    @classmethod
    def _create(cls, model_class, *args, **kwargs):
        scopes = list(kwargs.pop("scopes", None) or [])
        client = super()._create(model_class, *args, scopes=sorted(s for s in scopes if not is_money_moving(s)),
                                 **kwargs)
        money = [s for s in scopes if is_money_moving(s)]
        if money:
            grant_money_scopes_as_two_people(client, money)
            client.refresh_from_db()
        return client


def _person(role_name: str, username: str):
    user = get_user_model().objects.filter(username=username).first()
    return user or role_user(role_name, username=username)


def scope_maker():
    """The administrator who asks for money-moving scopes in the factories."""
    return _person("Administrator", "api-scope-maker")


def scope_approver(scope: str):
    """A person of the scope's approving role (``MONEY_MOVING_SCOPES[scope].approver_roles[0]``)."""
    from staff.roles import role

    role_ = role(money_scope(scope).approver_roles[0])
    return _person(role_.name, f"api-scope-approver-{role_.key}")


def grant_money_scopes_as_two_people(client: ApiClient, scopes, *, maker=None, approver=None) -> None:
    """Grant money-moving ``scopes`` the only way the product does: ``maker`` (an administrator) asks
    (:func:`integrations.services.api_scope_request`), a second person of the approving role approves
    (``approvals.services.approval_approve``)."""
    from approvals.models import ApprovalRequest
    from approvals.services import approval_approve

    maker = maker or scope_maker()
    for scope in scopes:
        grant = services.api_scope_request(client=client, scope=scope, actor=Actor.staff(maker), reason="test set-up")
        approval_approve(approval=ApprovalRequest.objects.get(reference=grant.approval_reference),
                         user=approver or scope_approver(scope))


def issue_token(client: ApiClient, **kwargs) -> str:
    return services.api_token_issue(client=client, actor=Actor.system("test"), **kwargs)[1]


def api_for(scopes=None, *, throttle_rate: str = "", name: str | None = None) -> tuple[APIClient, ApiClient, str]:
    """A DRF test client authenticated with a fresh token of a fresh API client holding ``scopes``
    (all scopes when ``None``)."""
    kwargs = {"scopes": sorted(all_scopes()) if scopes is None else list(scopes), "throttle_rate": throttle_rate}
    if name:
        kwargs["name"] = name
    client = ApiClientFactory(**kwargs)
    raw = issue_token(client)
    http = APIClient()
    http.credentials(HTTP_AUTHORIZATION=f"Bearer {raw}")
    return http, client, raw

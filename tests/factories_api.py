"""Factories and helpers for the integration API tests: clients with tokens, an authenticated client."""
from __future__ import annotations

import factory
from django.contrib.auth import get_user_model
from rest_framework.test import APIClient

from core.actors import Actor
from integrations import services
from integrations.models import ApiClient
from integrations.scopes import all_scopes


class ServiceUserFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = get_user_model()

    username = factory.Sequence(lambda n: f"api-test-{n}")
    is_staff = False


class ApiClientFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = ApiClient

    name = factory.Sequence(lambda n: f"Client {n}")
    user = factory.SubFactory(ServiceUserFactory)
    scopes = factory.LazyFunction(lambda: sorted(all_scopes()))


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

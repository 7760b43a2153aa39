"""Throttling per client (token) or per staff user (session), with the client's own rate if set.

The counters live in the cache named by ``API_THROTTLE_CACHE`` (default ``"default"``). With several
server processes that cache must be shared (Redis) for the limit to hold across them."""
from __future__ import annotations

from django.conf import settings
from django.core.cache import caches
from rest_framework.throttling import SimpleRateThrottle

from integrations.authentication import request_client


class ClientRateThrottle(SimpleRateThrottle):
    scope = "client"

    def __init__(self):
        # The rate is decided per request (a client may have its own); see allow_request.
        self.cache = caches[getattr(settings, "API_THROTTLE_CACHE", "default")]

    def allow_request(self, request, view):
        client = request_client(request)
        self.rate = (client.throttle_rate if client and client.throttle_rate else None) or self.get_rate()
        self.num_requests, self.duration = self.parse_rate(self.rate)
        return super().allow_request(request, view)

    def get_cache_key(self, request, view):
        client = request_client(request)
        if client is not None:
            ident = f"client:{client.pk}"
        elif request.user and request.user.is_authenticated:
            ident = f"user:{request.user.pk}"
        else:
            ident = f"anon:{self.get_ident(request)}"
        return self.cache_format % {"scope": self.scope, "ident": ident}

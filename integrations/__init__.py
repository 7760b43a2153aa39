"""Integration clients of the API (PRODUCT §10): who may call it, with what, how often, and safely twice.

Any app may import this one; it imports only ``core``. Reuse, e.g. for a collection agency API::

    from integrations.authentication import ApiTokenAuthentication
    from integrations.permissions import HasScope
    from integrations.idempotency import idempotent

    class AgencyCaseList(APIView):
        required_scopes = ("agency",)          # HasScope reads this
        ...
        # request.auth is the ApiToken, request.auth.client the ApiClient (None for a staff session);
        # integrations.api.actor_for(request) gives the Actor to pass to services.

Those classes are the project's defaults (``REST_FRAMEWORK`` settings), so a view only names its scopes.
"""

"""A changelist search box that also understands people: a full 18-digit ID number (through the keyed
hash, never the clear text) and a mobile number typed with spaces or dashes. Anything else goes to the
admin's ordinary ``search_fields``.

``search_customer_prefix`` is the lookup from the admin's model to the customer ("" for the customer itself,
``"customer__"``, ``"account__customer__"``)."""
from __future__ import annotations

from core.crypto import pii_hash
from core.search import as_id_number, as_mobile


class PeopleSearchMixin:
    search_customer_prefix: str = "account__customer__"

    def get_search_results(self, request, queryset, search_term):
        id_number = as_id_number(search_term)
        if id_number:
            return queryset.filter(**{f"{self.search_customer_prefix}id_number_hash": pii_hash(id_number)}), False
        mobile = as_mobile(search_term)
        if mobile:
            return queryset.filter(**{f"{self.search_customer_prefix}mobile": mobile}), False
        return super().get_search_results(request, queryset, search_term.strip())

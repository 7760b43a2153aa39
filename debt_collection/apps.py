from django.apps import AppConfig


class CollectionsConfig(AppConfig):
    """The collections app. Its package is ``debt_collection`` because ``collections`` is the
    standard library's; the label keeps admin, URLs, permissions and migrations saying
    ``collections``."""

    name = "debt_collection"
    label = "collections"
    verbose_name = "Collections"

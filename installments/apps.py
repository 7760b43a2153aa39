from django.apps import AppConfig


class InstallmentsConfig(AppConfig):
    name = "installments"
    verbose_name = "Credit engine"

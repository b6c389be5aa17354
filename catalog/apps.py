from django.apps import AppConfig


class CatalogConfig(AppConfig):
    default_auto_field = "django.db.models.BigAutoField"
    name = "catalog"
    verbose_name = "Models and providers"

    def ready(self) -> None:
        from portal import regions

        # The catalog's endpoints are placed in these regions: a bad setting is caught
        # before the gateway routes with it.
        regions.register_checks()

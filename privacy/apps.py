from django.apps import AppConfig


class PrivacyConfig(AppConfig):
    name = "privacy"
    verbose_name = "Privacy"

    def ready(self) -> None:
        from privacy import analytics, registry

        analytics.register_checks()

        # Every app's personal_data.py registers its models with the purge engine.
        registry.autodiscover()

from django.apps import AppConfig


class LoggingPrefsConfig(AppConfig):
    name = "logging_prefs"
    verbose_name = "Prompt logging"

from django.apps import AppConfig
from django.db.models.signals import post_save


class LoggingPrefsConfig(AppConfig):
    name = "logging_prefs"
    verbose_name = "Prompt logging"

    def ready(self) -> None:
        from accounts.models import User
        from logging_prefs.receivers import create_preference_for_new_user

        # Every account has its preference row from its first moment, however it was
        # created (sign-up, admin, createsuperuser, tests).
        post_save.connect(
            create_preference_for_new_user, sender=User, dispatch_uid="logging_prefs_new_user"
        )

from django.apps import AppConfig


class PreviewsConfig(AppConfig):
    """The ports a learner publishes, opened through Labdeck on origins of their own."""

    name = "previews"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from previews import checks  # noqa: F401  (registers the system checks)

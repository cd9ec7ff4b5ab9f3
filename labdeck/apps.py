from django.apps import AppConfig


class LabdeckConfig(AppConfig):
    name = "labdeck"
    verbose_name = "Classroom"

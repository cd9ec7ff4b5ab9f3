from django.apps import AppConfig


class LessonsConfig(AppConfig):
    """Course files, their parser and the exercise checker (see the lessons issue)."""

    name = "lessons"

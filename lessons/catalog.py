"""The courses the site serves, loaded once and validated.

A course that does not validate is not served: the catalogue keeps its
errors instead, and the pages show them rather than half a lesson.
"""
from __future__ import annotations

from functools import lru_cache
from pathlib import Path

from django.conf import settings

from lessons.course import Course, CourseInvalid, LessonError, load_course, manifests


def load_all() -> tuple[dict[str, Course], dict[str, list[LessonError]]]:
    """(courses by slug, errors by manifest name) for every manifest."""
    return _load(Path(settings.LABDECK_COURSE_DIR))


@lru_cache(maxsize=4)
def _load(content_dir: Path) -> tuple[dict[str, Course], dict[str, list[LessonError]]]:
    courses: dict[str, Course] = {}
    broken: dict[str, list[LessonError]] = {}
    for manifest in manifests(content_dir):
        try:
            course = load_course(manifest)
        except CourseInvalid as exc:
            broken[manifest.stem] = exc.errors
            continue
        courses[course.slug] = course
    return courses, broken


def get(slug: str) -> Course | None:
    return load_all()[0].get(slug)


def reload() -> None:
    _load.cache_clear()

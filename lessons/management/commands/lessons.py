"""`manage.py lessons validate` and `manage.py lessons test [--exercise ID]`."""
from __future__ import annotations

import sys
from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from lessons.course import CONTENT_DIR, CourseInvalid, load_course, manifests


class Command(BaseCommand):
    help = "Validate course files, or run every exercise's setup, check and solve in real sandboxes."

    def add_arguments(self, parser):
        sub = parser.add_subparsers(dest="action", required=True)
        validate = sub.add_parser("validate", help="check every course file; errors name file and line")
        validate.add_argument("--content", default=str(CONTENT_DIR))
        test = sub.add_parser("test", help="setup, check fails, solve, check passes, for each exercise")
        test.add_argument("--content", default=str(CONTENT_DIR))
        test.add_argument("--exercise", action="append", default=[], help="only this exercise id (repeatable)")
        test.add_argument("--course", default="", help="only this course slug")
        test.add_argument("--timeout", type=float, default=10.0, help="seconds the check may take to pass")
        test.add_argument("--blocks", action="store_true",
                          help="instead, run every section's run blocks in order in a fresh sandbox")

    def handle(self, *args, action: str, content: str, **options) -> None:
        if action == "validate":
            return self.validate(Path(content))
        return self.test(Path(content), options["course"], options["exercise"], options["timeout"], options["blocks"])

    def validate(self, content: Path) -> None:
        found = manifests(content)
        if not found:
            raise CommandError(f"no course manifest (*.yml) in {content}")
        failed = False
        for manifest in found:
            try:
                course = load_course(manifest)
            except CourseInvalid as exc:
                failed = True
                for error in exc.errors:
                    self.stderr.write(str(error))
                continue
            self.stdout.write(f"{manifest.name}: {course.title}: {len(course.sections())} sections, "
                              f"{len(course.slides())} slides, {len(course.exercises())} exercises")
        if failed:
            raise CommandError("some course files are broken (see above)")

    def test(self, content: Path, slug: str, only: list[str], timeout: float, blocks: bool) -> None:
        from lessons.selftest import run_block_tests, run_exercise_tests

        courses = [load_course(m) for m in manifests(content)]
        courses = [c for c in courses if not slug or c.slug == slug]
        if blocks:
            failures = run_block_tests(courses, self.stdout.write)
        else:
            failures = run_exercise_tests(courses, only, timeout, self.stdout.write)
        if failures:
            for failure in failures:
                self.stderr.write(f"FAILED {failure}")
            sys.exit(1)

"""Course catalogue, slide player and step view."""
from __future__ import annotations

from pathlib import Path

from django.conf import settings
from django.http import FileResponse, Http404, HttpRequest, HttpResponse
from django.shortcuts import render
from django.views.decorators.csrf import ensure_csrf_cookie
from django.views.decorators.http import require_GET, require_POST

from lessons import catalog, rooms
from lessons.course import Course
from lessons.render import pygments_css, slide_html
from sandboxes import views as sandbox_views
from sandboxes.owners import owner_key

MEDIA_TYPES = {".svg": "image/svg+xml", ".png": "image/png"}


def _slides(course: Course, mode: str, only: set[str] | None = None) -> list[dict]:
    """The slides of a course as the templates need them, for one mode, and
    only of some sections when a workshop teaches a part of the course."""
    skip = "self-paced-only" if mode == "live" else "live-only"
    slides = []
    for chapter in course.chapters:
        for section in chapter.sections:
            if only and section.id not in only:
                continue
            for slide in section.slides:
                if skip in slide.kinds:
                    continue
                slides.append({
                    "number": slide.number,
                    "html": slide_html(slide),
                    "kinds": " ".join(sorted(slide.kinds)),
                    "title": slide.title or section.title,
                    "section": section,
                    "chapter": chapter,
                    "exercises": [e.id for e in slide.exercises],
                })
    return slides


def _toc(slides: list[dict]) -> list[dict]:
    toc: list[dict] = []
    for slide in slides:
        if not toc or toc[-1]["chapter"] is not slide["chapter"]:
            toc.append({"chapter": slide["chapter"], "sections": []})
        sections = toc[-1]["sections"]
        if not sections or sections[-1]["section"] is not slide["section"]:
            sections.append({"section": slide["section"], "first": slide["number"], "exercises": []})
        sections[-1]["exercises"] += slide["exercises"]
    return toc


def _course_or_error(request: HttpRequest, slug: str) -> Course | HttpResponse:
    courses, broken = catalog.load_all()
    if slug in courses:
        return courses[slug]
    if slug in broken:
        return render(request, "lessons/broken.html", {"slug": slug, "errors": broken[slug]}, status=503)
    raise Http404("No such course")


@require_GET
def course_list(request: HttpRequest) -> HttpResponse:
    courses, broken = catalog.load_all()
    return render(request, "lessons/catalog.html", {"courses": courses.values(), "broken": broken})


@require_GET
@ensure_csrf_cookie
def player(request: HttpRequest, slug: str, mode: str = "live") -> HttpResponse:
    course = _course_or_error(request, slug)
    if isinstance(course, HttpResponse):
        return course
    owner_key(request.session)  # the progress websocket needs it before any sandbox
    slides = _slides(course, mode, rooms.sections(request.session, course.slug))
    return render(request, "lessons/player.html" if mode == "live" else "lessons/steps.html", {
        "course": course, "slides": slides, "toc": _toc(slides), "mode": mode,
        "exercise_count": sum(len(slide["exercises"]) for slide in slides),
    })


@require_POST
def course_sandbox(request: HttpRequest, slug: str) -> HttpResponse:
    """/sandbox/start for a course: a sandbox of as many machines as it asks for."""
    course = catalog.get(slug)
    if course is None:
        raise Http404("No such course")
    return sandbox_views.start(request, course.nodes)


@require_GET
def media(request: HttpRequest, path: str) -> HttpResponse:
    """Pictures that lessons include (SVG diagrams), from the course folder."""
    root = Path(settings.LABDECK_COURSE_DIR).resolve()
    target = (root / path).resolve()
    if root not in target.parents or target.suffix not in MEDIA_TYPES or not target.is_file():
        raise Http404("No such picture")
    response = FileResponse(target.open("rb"), content_type=MEDIA_TYPES[target.suffix])
    # An SVG could carry script: serve it as an image only.
    response["Content-Security-Policy"] = "default-src 'none'; style-src 'unsafe-inline'"
    response["Cache-Control"] = "max-age=3600"
    return response


@require_GET
def highlight_css(request: HttpRequest) -> HttpResponse:
    response = HttpResponse(pygments_css(), content_type="text/css")
    response["Cache-Control"] = "max-age=3600"
    return response

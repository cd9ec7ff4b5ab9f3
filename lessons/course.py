"""Course files: a YAML manifest picks Markdown sections into chapters.

load_course() reads a manifest and its sections into plain dataclasses, or
raises CourseInvalid listing every problem with its file and line. Nothing
half-parsed ever leaves this module.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

import yaml
from django.conf import settings

from lessons import checks

CONTENT_DIR = Path(__file__).resolve().parent / "content"
FENCE = re.compile(r"^(```+|~~~+)\s*(.*)$")
SLIDE_MARK = re.compile(r"^<!--\s*slide:\s*([\w\s,-]+?)\s*-->\s*$")
SLIDE_KINDS = {"extra-details", "live-only", "self-paced-only"}
ACTIONS = {"run", "copy", "interrupt"}
FLAGS = {"interactive", "online"}
MANIFEST_KEYS = {"slug", "title", "description", "chapters", "nodes"}
CHAPTER_KEYS = {"title", "sections"}
HEADER_KEYS = {"title", "id", "quiz"}
EXERCISE_KEYS = {"id", "title", "instructions", "hints", "check", "setup", "solve"}
QUIZ_KEYS = {"question", "multiple", "answers"}
ANSWER_KEYS = {"text", "correct", "why"}


@dataclass
class LessonError:
    path: Path
    line: int
    message: str

    def __str__(self) -> str:
        try:
            shown = self.path.relative_to(CONTENT_DIR.parent.parent)
        except ValueError:
            shown = self.path
        return f"{shown}:{self.line}: {self.message}"


class CourseInvalid(Exception):
    def __init__(self, errors: list[LessonError]):
        self.errors = errors
        super().__init__("\n".join(map(str, errors)))


@dataclass
class CodeBlock:
    lang: str
    code: str
    actions: set[str]
    flags: set[str]
    line: int
    # The machine of a node set whose terminal it is typed into ("node2").
    node: int = 1


@dataclass
class Exercise:
    id: str
    title: str
    instructions: str
    hints: list[str]
    check: checks.Condition
    setup: str
    solve: str
    path: Path
    line: int


@dataclass
class Answer:
    text: str
    correct: bool
    why: str


@dataclass
class Quiz:
    question: str
    multiple: bool
    answers: list[Answer]
    line: int


@dataclass
class Slide:
    markdown: str
    kinds: set[str]
    line: int
    blocks: list[CodeBlock] = field(default_factory=list)
    exercises: list[Exercise] = field(default_factory=list)
    quizzes: list[Quiz] = field(default_factory=list)
    number: int = 0

    @property
    def title(self) -> str:
        for line in self.markdown.splitlines():
            if line.startswith("#"):
                return line.lstrip("#").strip()
        return ""


@dataclass
class Section:
    id: str
    title: str
    path: Path
    slides: list[Slide]
    quiz: bool = False

    def exercise_ids(self) -> set[str]:
        return {e.id for slide in self.slides for e in slide.exercises}


@dataclass
class Chapter:
    title: str
    sections: list[Section]


@dataclass
class Course:
    slug: str
    title: str
    description: str
    chapters: list[Chapter]
    path: Path
    # Machines per learner: a node set (node1 … nodeN) when above 1.
    nodes: int = 1

    def sections(self) -> list[Section]:
        return [s for c in self.chapters for s in c.sections]

    def slides(self) -> list[Slide]:
        return [slide for s in self.sections() for slide in s.slides]

    def exercises(self) -> dict[str, Exercise]:
        return {e.id: e for slide in self.slides() for e in slide.exercises}

    def section_of(self, slide_number: int) -> Section | None:
        for section in self.sections():
            if any(slide.number == slide_number for slide in section.slides):
                return section
        return None


class _Collector:
    """Gathers errors so one run of validate reports all of them."""

    def __init__(self):
        self.errors: list[LessonError] = []

    def add(self, path: Path, line: int, message: str) -> None:
        self.errors.append(LessonError(path, line, message))


def _key_line(block_lines: list[str], key: str, first_line: int) -> int:
    """The line of `key:` inside a YAML block, for error messages."""
    pattern = re.compile(rf"^\s*-?\s*{re.escape(str(key))}\s*:")
    for offset, text in enumerate(block_lines):
        if pattern.match(text):
            return first_line + offset
    return first_line


def _load_yaml(text: str, path: Path, line: int, errors: _Collector):
    try:
        return yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = line + (mark.line if mark else 0)
        problem = getattr(exc, "problem", None) or str(exc)
        errors.add(path, where, f"YAML: {problem}")
        return None


def _parse_exercise(text: str, path: Path, line: int, errors: _Collector) -> Exercise | None:
    """Parse the YAML of an exercise block whose fence is at `line`."""
    lines, first = text.splitlines(), line + 1
    data = _load_yaml(text, path, first, errors)
    if data is None:
        return None
    if not isinstance(data, dict):
        errors.add(path, line, "an exercise block must be a YAML mapping")
        return None
    count = len(errors.errors)
    for key in set(data) - EXERCISE_KEYS:
        errors.add(path, _key_line(lines, key, first), f"exercise: unknown key {key!r}; known: "
                   f"{', '.join(sorted(EXERCISE_KEYS))}")
    for key in ("id", "title", "instructions", "check", "solve"):
        if not data.get(key):
            errors.add(path, line, f"exercise {data.get('id', '?')}: missing {key!r}")
    hints = data.get("hints", [])
    if not isinstance(hints, list) or not all(isinstance(h, str) for h in hints):
        errors.add(path, _key_line(lines, "hints", first), "exercise: hints must be a list of text")
    for key in ("setup", "solve", "instructions", "title", "id"):
        if key in data and not isinstance(data[key], str):
            errors.add(path, _key_line(lines, key, first), f"exercise: {key} must be text")
    condition = None
    if data.get("check"):
        try:
            condition = checks.parse(data["check"])
        except checks.CheckSyntaxError as exc:
            errors.add(path, _key_line(lines, "check", first), f"exercise {data.get('id', '?')}: {exc}")
    if len(errors.errors) > count or condition is None:
        return None
    return Exercise(data["id"], data["title"], data["instructions"], hints, condition,
                    data.get("setup", ""), data["solve"], path, line)


def _parse_quiz(text: str, path: Path, line: int, errors: _Collector) -> Quiz | None:
    lines, first = text.splitlines(), line + 1
    data = _load_yaml(text, path, first, errors)
    if data is None:
        return None
    if not isinstance(data, dict):
        errors.add(path, line, "a quiz block must be a YAML mapping")
        return None
    count = len(errors.errors)
    for key in set(data) - QUIZ_KEYS:
        errors.add(path, _key_line(lines, key, first), f"quiz: unknown key {key!r}")
    answers = data.get("answers")
    if not data.get("question") or not isinstance(answers, list) or len(answers) < 2:
        errors.add(path, line, "quiz: needs a question and at least two answers")
        return None
    parsed = []
    for answer in answers:
        if not isinstance(answer, dict) or not answer.get("text"):
            errors.add(path, line, "quiz: each answer needs a text")
            continue
        for key in set(answer) - ANSWER_KEYS:
            errors.add(path, _key_line(lines, key, first), f"quiz: unknown answer key {key!r}")
        parsed.append(Answer(str(answer["text"]), bool(answer.get("correct")), str(answer.get("why", ""))))
    correct = sum(a.correct for a in parsed)
    multiple = bool(data.get("multiple"))
    if correct == 0 or (not multiple and correct != 1):
        errors.add(path, line, f"quiz: {correct} correct answers for a {'multiple' if multiple else 'single'}-choice "
                   "question")
    if len(errors.errors) > count:
        return None
    return Quiz(str(data["question"]), multiple, parsed, line)


def _split_slides(body: list[str], first_line: int, path: Path, errors: _Collector) -> list[tuple[int, list[str]]]:
    slides, current, start, fence = [], [], first_line, None
    for offset, text in enumerate(body):
        number = first_line + offset
        match = FENCE.match(text)
        if match and fence is None:
            fence = (match.group(1), number)
        elif fence and text.strip() == fence[0]:
            fence = None
        if text.strip() == "---" and fence is None:
            slides.append((start, current))
            current, start = [], number + 1
            continue
        current.append(text)
    if fence:
        errors.add(path, fence[1], "code block never closed")
    slides.append((start, current))
    return [(n, lines) for n, lines in slides if any(t.strip() for t in lines)]


def _parse_slide(start: int, lines: list[str], path: Path, errors: _Collector) -> Slide:
    kinds: set[str] = set()
    while lines and not lines[0].strip():
        lines, start = lines[1:], start + 1
    mark = SLIDE_MARK.match(lines[0]) if lines else None
    if mark:
        kinds = {k.strip() for k in re.split(r"[\s,]+", mark.group(1)) if k.strip()}
        for kind in kinds - SLIDE_KINDS:
            errors.add(path, start, f"unknown slide kind {kind!r}; known: {', '.join(sorted(SLIDE_KINDS))}")
        lines, start = lines[1:], start + 1
    slide = Slide("\n".join(lines), kinds, start)
    index = 0
    while index < len(lines):
        match = FENCE.match(lines[index])
        if not match:
            index += 1
            continue
        fence, info = match.group(1), match.group(2).split()
        end = index + 1
        while end < len(lines) and lines[end].strip() != fence:
            end += 1
        content = "\n".join(lines[index + 1:end])
        line = start + index
        if info[:1] == ["exercise"]:
            exercise = _parse_exercise(content, path, line, errors)
            if exercise:
                slide.exercises.append(exercise)
        elif info[:1] == ["quiz"]:
            quiz = _parse_quiz(content, path, line, errors)
            if quiz:
                slide.quizzes.append(quiz)
        else:
            words = set(info[1:])
            nodes = {word for word in words if checks.NODE_NAME.fullmatch(word)}
            unknown = words - ACTIONS - FLAGS - nodes
            if unknown:
                errors.add(path, start + index, f"code block: unknown word(s) {', '.join(sorted(unknown))} after "
                           f"the language; known: {', '.join(sorted(ACTIONS | FLAGS))}, node1, node2, ...")
            if len(nodes) > 1:
                errors.add(path, start + index, f"code block: names {len(nodes)} nodes; a block runs on one")
            node = int(min(nodes)[4:]) if nodes else 1
            slide.blocks.append(CodeBlock(info[0] if info else "", content, words & ACTIONS, words & FLAGS,
                                          start + index, node))
        index = end + 1
    return slide


def load_section(path: Path, errors: _Collector) -> Section | None:
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        errors.add(path, 1, f"cannot read: {exc}")
        return None
    lines = text.splitlines()
    if not lines or lines[0].strip() != "+++":
        errors.add(path, 1, "a section starts with a +++ header (title: ...) closed by another +++")
        return None
    try:
        close = lines.index("+++", 1)
    except ValueError:
        errors.add(path, 1, "the +++ header is never closed")
        return None
    header = _load_yaml("\n".join(lines[1:close]), path, 2, errors)
    if not isinstance(header, dict) or not header.get("title"):
        errors.add(path, 2, "the header needs a title")
        return None
    for key in set(header) - HEADER_KEYS:
        errors.add(path, _key_line(lines[1:close], key, 2), f"header: unknown key {key!r}")
    slides = [_parse_slide(n, body, path, errors) for n, body in _split_slides(lines[close + 1:], close + 2, path,
                                                                                errors)]
    if not slides:
        errors.add(path, close + 2, "a section needs at least one slide")
    return Section(str(header.get("id") or path.stem), str(header["title"]), path, slides, bool(header.get("quiz")))


def load_course(manifest: Path) -> Course:
    """Read a course manifest and its sections; raise CourseInvalid on any problem."""
    errors = _Collector()
    raw = manifest.read_text(encoding="utf-8") if manifest.exists() else ""
    data = _load_yaml(raw, manifest, 1, errors) if raw else None
    if not isinstance(data, dict):
        errors.add(manifest, 1, "a manifest is a YAML mapping with slug, title and chapters")
        raise CourseInvalid(errors.errors)
    lines = raw.splitlines()
    for key in set(data) - MANIFEST_KEYS:
        errors.add(manifest, _key_line(lines, key, 1), f"manifest: unknown key {key!r}")
    chapters = []
    for chapter in data.get("chapters") or []:
        if not isinstance(chapter, dict) or not chapter.get("title") or not isinstance(chapter.get("sections"), list):
            errors.add(manifest, 1, "manifest: each chapter needs a title and a list of sections")
            continue
        for key in set(chapter) - CHAPTER_KEYS:
            errors.add(manifest, _key_line(lines, key, 1), f"manifest: unknown chapter key {key!r}")
        sections = []
        for name in chapter["sections"]:
            path = manifest.parent / str(name)
            if not path.is_file():
                line = next((i + 1 for i, text in enumerate(lines) if str(name) in text), 1)
                errors.add(manifest, line, f"manifest: section {name} does not exist")
                continue
            section = load_section(path, errors)
            if section:
                sections.append(section)
        chapters.append(Chapter(str(chapter["title"]), sections))
    if not data.get("slug") or not data.get("title") or not chapters:
        errors.add(manifest, 1, "manifest: needs slug, title and at least one chapter")
    nodes = data.get("nodes", 1)
    if not isinstance(nodes, int) or isinstance(nodes, bool) or not 1 <= nodes <= settings.MAX_NODES:
        errors.add(manifest, _key_line(lines, "nodes", 1), f"manifest: nodes must be a whole number from 1 to "
                   f"{settings.MAX_NODES}, not {nodes!r}")
        nodes = 1
    course = Course(str(data.get("slug", "")), str(data.get("title", "")), str(data.get("description", "")),
                    chapters, manifest, nodes)
    _check_nodes(course, errors)
    seen: dict[str, Exercise] = {}
    for number, slide in enumerate(course.slides(), 1):
        slide.number = number
        for exercise in slide.exercises:
            if exercise.id in seen:
                first = seen[exercise.id]
                errors.add(exercise.path, exercise.line, f"exercise id {exercise.id!r} is used twice (first at "
                           f"{first.path.name}:{first.line})")
            seen[exercise.id] = exercise
    if errors.errors:
        raise CourseInvalid(errors.errors)
    return course


def _node_numbers(condition: checks.Condition) -> set[int]:
    found = {condition.spec["number"]} if condition.kind == "node" else set()
    return found.union(*(_node_numbers(child) for child in condition.children))


def _check_nodes(course: Course, errors: _Collector) -> None:
    """Every node that a block or a check names is one the course has."""
    for section in course.sections():
        for block in (b for slide in section.slides for b in slide.blocks):
            if block.node > course.nodes:
                errors.add(section.path, block.line, f"code block: node{block.node}, but the course has "
                           f"{course.nodes} node(s) (manifest key nodes)")
    for exercise in course.exercises().values():
        beyond = sorted(n for n in _node_numbers(exercise.check) if n > course.nodes)
        if beyond:
            errors.add(exercise.path, exercise.line, f"exercise {exercise.id}: its check names node{beyond[0]}, "
                       f"but the course has {course.nodes} node(s) (manifest key nodes)")


def manifests(content_dir: Path = CONTENT_DIR) -> list[Path]:
    return sorted(content_dir.glob("*.yml"))

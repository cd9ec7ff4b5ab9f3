"""Markdown to safe HTML for slides: highlighted code, action buttons,
exercise cards and quizzes.

Lesson authors are trusted less than code: everything is sanitised with nh3
after rendering, with only the tags and attributes the player needs.
"""
from __future__ import annotations

import html
from functools import lru_cache

import nh3
from markdown_it import MarkdownIt
from pygments import highlight
from pygments.formatters import HtmlFormatter
from pygments.lexers import TextLexer, get_lexer_by_name
from pygments.util import ClassNotFound

from lessons.checks import NODE_NAME
from lessons.course import Exercise, Quiz, Slide

ACTION_LABELS = {"run": "Run", "copy": "Copy", "interrupt": "Stop and run"}
ALLOWED_TAGS = {
    "a", "abbr", "b", "blockquote", "br", "button", "code", "dd", "del", "details", "div", "dl", "dt", "em",
    "form", "h1", "h2", "h3", "h4", "h5", "h6", "hr", "i", "img", "input", "label", "li", "ol", "p", "pre",
    "section", "span", "strong", "sub", "summary", "sup", "table", "tbody", "td", "th", "thead", "tr", "ul",
    "fieldset", "legend", "kbd",
}
ALLOWED_ATTRIBUTES = {
    "*": {"class", "id", "hidden", "aria-live", "aria-label", "title", "role"},
    "a": {"href"},
    "img": {"src", "alt", "width", "height"},
    "button": {"type", "data-action", "data-hint-next", "data-check", "data-reveal"},
    "div": {"data-action", "data-flags"},
    "section": {"data-exercise", "data-status"},
    "form": {"data-quiz", "data-multiple"},
    "input": {"type", "name", "value", "data-correct"},
    "ol": {"data-hints"},
    "td": {"align"}, "th": {"align"},
}
_formatter = HtmlFormatter(nowrap=True)


def _highlight(code: str, lang: str) -> str:
    try:
        lexer = get_lexer_by_name(lang) if lang else TextLexer()
    except ClassNotFound:
        lexer = TextLexer()
    return highlight(code, lexer, _formatter)


def _fence(md: MarkdownIt):
    def render(renderer, tokens, idx, options, env):
        token = tokens[idx]
        words = token.info.split()
        lang = words[0] if words else ""
        actions = [w for w in words[1:] if w in ACTION_LABELS]
        flags = [w for w in words[1:] if w not in ACTION_LABELS]
        code = _highlight(token.content.rstrip("\n"), lang)
        buttons = "".join(
            f'<button type="button" class="code-action" data-action="{a}">{ACTION_LABELS[a]}</button>'
            for a in actions
        )
        action_attr = f' data-action="{actions[0]}"' if actions else ""
        flags_attr = f' data-flags="{" ".join(flags)}"' if flags else ""
        # Which machine of a node set it runs on, for the reader too.
        nodes = [w for w in flags if NODE_NAME.fullmatch(w)]
        label = f'<span class="code-node">{nodes[0]}</span>' if nodes else ""
        return (f'<div class="code-block highlight"{action_attr}{flags_attr}>{label}{buttons}'
                f'<pre><code>{code}</code></pre></div>\n')

    return render


@lru_cache(maxsize=1)
def _markdown() -> MarkdownIt:
    md = MarkdownIt("commonmark", {"html": False}).enable("table").enable("strikethrough")
    md.add_render_rule("fence", _fence(md))
    return md


def markdown(text: str) -> str:
    return clean(_markdown().render(text))


def clean(fragment: str) -> str:
    return nh3.clean(fragment, tags=ALLOWED_TAGS, attributes=ALLOWED_ATTRIBUTES, link_rel="noopener noreferrer")


def exercise_card(exercise: Exercise) -> str:
    hints = "".join(f"<li hidden>{_markdown().renderInline(h)}</li>" for h in exercise.hints)
    return (
        f'<section class="exercise" data-exercise="{html.escape(exercise.id)}" data-status="pending">'
        f'<h3><span class="exercise-badge" aria-hidden="true"></span>{html.escape(exercise.title)}</h3>'
        f'<div class="instructions">{_markdown().render(exercise.instructions)}</div>'
        f'<ol class="hints" data-hints>{hints}</ol>'
        f'<div class="exercise-actions">'
        + (f'<button type="button" data-hint-next>Show a hint ({len(exercise.hints)})</button>' if hints else "")
        + '<button type="button" data-check>Check</button></div>'
        '<div class="check-result" aria-live="polite"></div></section>'
    )


def quiz_form(quiz: Quiz, name: str) -> str:
    kind = "checkbox" if quiz.multiple else "radio"
    answers = "".join(
        f'<label class="answer"><input type="{kind}" name="{name}" value="{i}" '
        f'data-correct="{"true" if a.correct else "false"}"> {_markdown().renderInline(a.text)}</label>'
        f'<p class="why" hidden>{_markdown().renderInline(a.why)}</p>'
        for i, a in enumerate(quiz.answers)
    )
    hint = "Choose all that apply." if quiz.multiple else "Choose one."
    return (f'<form class="quiz" data-quiz data-multiple="{"true" if quiz.multiple else "false"}">'
            f'<fieldset><legend>{_markdown().renderInline(quiz.question)} <span class="quiz-hint">{hint}</span>'
            f'</legend>{answers}</fieldset><button type="submit">Answer</button>'
            f'<p class="quiz-result" aria-live="polite"></p></form>')


def slide_html(slide: Slide) -> str:
    """A slide's HTML, with its exercise and quiz blocks turned into cards."""
    md = _markdown()
    tokens = md.parse(slide.markdown)
    exercises = iter(slide.exercises)
    quizzes = iter(slide.quizzes)
    parts: list[str] = []
    start = 0
    for index, token in enumerate(tokens):
        if token.type != "fence" or token.info.split()[:1] not in (["exercise"], ["quiz"]):
            continue
        parts.append(md.renderer.render(tokens[start:index], md.options, {}))
        if token.info.split()[0] == "exercise":
            exercise = next(exercises, None)
            parts.append(exercise_card(exercise) if exercise else "")
        else:
            quiz = next(quizzes, None)
            parts.append(quiz_form(quiz, f"quiz-{slide.number}-{quiz.line}") if quiz else "")
        start = index + 1
    parts.append(md.renderer.render(tokens[start:], md.options, {}))
    return clean("".join(parts))


def pygments_css() -> str:
    light = HtmlFormatter(style="friendly").get_style_defs(".highlight")
    dark = HtmlFormatter(style="monokai").get_style_defs(".highlight")
    return f"{light}\n@media (prefers-color-scheme: dark) {{\n{dark}\n}}\n"

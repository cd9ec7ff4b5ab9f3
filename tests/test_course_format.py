"""The course format: what parses, and what a broken file is told."""
import textwrap

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from lessons import catalog
from lessons.course import CourseInvalid, load_course

GOOD_SECTION = """\
+++
title: Hello
+++

# Hello

```bash run
docker run busybox echo hello world
```

---

<!-- slide: extra-details -->

## Deeper

```exercise
id: hello-world
title: Hello
instructions: Say hello.
hints:
  - "Use `docker run`."
check:
  container: {image: busybox, command: echo hello world, exit_code: 0}
  message: Not yet.
solve: docker run busybox echo hello world
```

```quiz
question: Is this a quiz?
answers:
  - text: "Yes"
    correct: true
    why: It is.
  - text: "No"
```
"""


def write_course(tmp_path, section: str = GOOD_SECTION, manifest: str | None = None):
    (tmp_path / "one").mkdir(exist_ok=True)
    (tmp_path / "one" / "hello.md").write_text(section)
    (tmp_path / "demo.yml").write_text(manifest or textwrap.dedent("""\
        slug: demo
        title: Demo
        chapters:
          - title: One
            sections: [one/hello.md]
        """))
    return tmp_path / "demo.yml"


def errors_of(manifest) -> list[str]:
    with pytest.raises(CourseInvalid) as raised:
        load_course(manifest)
    return [str(e) for e in raised.value.errors]


def test_it_parses_a_good_course(tmp_path):
    course = load_course(write_course(tmp_path))
    slides = course.slides()
    assert [s.number for s in slides] == [1, 2]
    assert slides[0].blocks[0].actions == {"run"}
    assert slides[1].kinds == {"extra-details"}
    exercise = course.exercises()["hello-world"]
    assert exercise.hints == ["Use `docker run`."] and exercise.line == 17
    assert slides[1].quizzes[0].answers[0].correct


def test_it_names_file_and_line_of_an_unknown_key(tmp_path):
    broken = GOOD_SECTION.replace("title: Hello\ninstructions", "title: Hello\ncolour: red\ninstructions")
    assert errors_of(write_course(tmp_path, broken)) == [
        f"{tmp_path}/one/hello.md:20: exercise: unknown key 'colour'; known: check, hints, id, instructions, "
        "setup, solve, title"]


def test_it_reports_a_check_that_does_not_parse(tmp_path):
    broken = GOOD_SECTION.replace("container: {image: busybox", "containr: {image: busybox")
    [error] = errors_of(write_course(tmp_path, broken))
    assert error.startswith(f"{tmp_path}/one/hello.md:23: exercise hello-world: check: unknown condition 'containr'")


def test_it_reports_a_missing_solve_and_a_yaml_error(tmp_path):
    broken = GOOD_SECTION.replace("solve: docker run busybox echo hello world\n", "")
    broken = broken.replace("question: Is this a quiz?", "question: [unclosed")
    errors = errors_of(write_course(tmp_path, broken))
    assert f"{tmp_path}/one/hello.md:17: exercise hello-world: missing 'solve'" in errors
    assert any(e.startswith(f"{tmp_path}/one/hello.md:") and "YAML" in e for e in errors)


def test_it_reports_duplicate_ids_and_missing_sections(tmp_path):
    doubled = GOOD_SECTION + "\n---\n\n" + GOOD_SECTION[GOOD_SECTION.index("```exercise"):GOOD_SECTION.index("```quiz")]
    manifest = write_course(tmp_path, doubled)
    manifest.write_text(manifest.read_text().replace("[one/hello.md]", "[one/hello.md, one/nope.md]"))
    errors = errors_of(manifest)
    assert any("exercise id 'hello-world' is used twice (first at hello.md:17)" in e for e in errors)
    assert f"{tmp_path}/demo.yml:5: manifest: section one/nope.md does not exist" in errors


def test_a_course_of_several_machines_names_its_nodes(tmp_path):
    """A node set's course: blocks for another machine, checks on one."""
    section = GOOD_SECTION.replace("```bash run\n", "```bash run node2\n").replace(
        "check:\n  container: {image: busybox, command: echo hello world, exit_code: 0}",
        "check:\n  node: {name: node2, check: {swarm: {state: active}}}")
    manifest = write_course(tmp_path, section)
    manifest.write_text(manifest.read_text() + "nodes: 2\n")
    course = load_course(manifest)
    assert course.nodes == 2 and course.slides()[0].blocks[0].node == 2
    assert course.exercises()["hello-world"].check.children[0].kind == "swarm"


def test_it_refuses_a_node_the_course_does_not_have(tmp_path):
    section = GOOD_SECTION.replace("```bash run\n", "```bash run node3\n").replace(
        "check:\n  container: {image: busybox, command: echo hello world, exit_code: 0}",
        "check:\n  node: {name: node4, check: {service: {name: web, running: 2}}}")
    manifest = write_course(tmp_path, section)
    manifest.write_text(manifest.read_text() + "nodes: 2\n")
    assert errors_of(manifest) == [
        f"{tmp_path}/one/hello.md:7: code block: node3, but the course has 2 node(s) (manifest key nodes)",
        f"{tmp_path}/one/hello.md:17: exercise hello-world: its check names node4, but the course has 2 node(s) "
        "(manifest key nodes)"]
    manifest.write_text(manifest.read_text().replace("nodes: 2", "nodes: 40"))
    assert f"{tmp_path}/demo.yml:6: manifest: nodes must be a whole number from 1 to 8, not 40" in errors_of(manifest)


def test_validate_command_fails_with_file_and_line(tmp_path, capsys):
    write_course(tmp_path, GOOD_SECTION.replace("<!-- slide: extra-details -->", "<!-- slide: bonus -->"))
    with pytest.raises(CommandError):
        call_command("lessons", "validate", "--content", str(tmp_path))
    assert "one/hello.md:13: unknown slide kind 'bonus'" in capsys.readouterr().err


def test_the_shipped_course_validates(capsys):
    call_command("lessons", "validate")
    assert "intro.yml: Containers, hands on" in capsys.readouterr().out


@pytest.mark.django_db
def test_the_site_refuses_a_broken_course_and_says_why(tmp_path, settings, client):
    write_course(tmp_path, GOOD_SECTION.replace("title: Hello\n+++", "title: Hello\nauthor: me\n+++"))
    settings.LABDECK_COURSE_DIR = str(tmp_path)
    catalog.reload()
    try:
        response = client.get("/courses/demo/")
        assert response.status_code == 503
        assert "one/hello.md:3: header: unknown key &#x27;author&#x27;" in response.content.decode()
        assert "Deeper" not in response.content.decode()
    finally:
        catalog.reload()


def test_the_course_has_every_exercise_of_the_curriculum():
    """The exercise ids are fixed by ../shared/CURRICULUM.md."""
    import re
    from pathlib import Path

    curriculum = Path(__file__).resolve().parent.parent.parent / "shared" / "CURRICULUM.md"
    if not curriculum.exists():
        pytest.skip("../shared/CURRICULUM.md is not beside this checkout")
    wanted = set(re.findall(r"`([a-z0-9-]+)`: ", curriculum.read_text()))
    assert len(wanted) == 44
    assert set(catalog.get("intro").exercises()) == wanted
    assert len(catalog.get("intro").sections()) == 27

"""The course pages in a real browser: the catalogue, the slide player with
its terminal, and the self-paced steps."""
import pytest

from tests.browser import wait_for_terminal_line

pytestmark = pytest.mark.browser

PROMPT = r"learner@labdeck:~# $"



@pytest.fixture(scope="module")
def context(browser):
    """One learner (one session, so one sandbox) for the player tests."""
    context = browser.new_context(viewport={"width": 1280, "height": 720})
    yield context
    context.close()


def test_the_catalogue_lists_the_course(server, page):
    page.goto(server.url + "/courses/")
    card = page.locator("[data-course=intro]")
    assert card.locator("h2").inner_text() == "Containers, hands on"
    assert card.get_by_role("link", name="Start the course").get_attribute("href") == "/courses/intro/"
    assert card.get_by_role("link", name="Self-paced steps").get_attribute("href") == "/courses/intro/steps/"
    assert "First steps" in card.inner_text()


def test_the_player_turns_slides_and_runs_their_commands(server, context):
    page = context.new_page()
    page.goto(server.url + "/courses/intro/")
    page.wait_for_selector('[data-slide="1"]', state="visible")

    page.keyboard.press("ArrowRight")
    page.keyboard.press("ArrowRight")
    page.wait_for_selector('[data-slide="3"]', state="visible")
    assert page.is_hidden('[data-slide="1"]')
    assert page.get_attribute('[data-slide="3"]', "aria-current") == "step"
    assert page.evaluate("location.hash") == "#3"

    number = page.evaluate(
        """document.querySelector('[data-exercise="hello-world"]').closest('[data-slide]').dataset.slide""")
    page.evaluate("n => { location.hash = '#' + n; }", number)
    slide = page.locator(f'[data-slide="{number}"]')
    slide.wait_for(state="visible")
    assert page.is_hidden('[data-slide="3"]')

    # The sandbox starts by itself; the status pill follows it.
    page.wait_for_selector("#status[data-state=ready]", timeout=60_000)
    wait_for_terminal_line(page, PROMPT)
    run = slide.locator(".code-block", has_text="docker run busybox echo hello world").locator(
        'button[data-action="run"]')
    run.click()
    wait_for_terminal_line(page, r"^hello world\s*$")

    # Server side: this needs the progress websocket (/ws/progress/<slug>/)
    # and its checker. Without them, this is the one assertion that fails.
    page.wait_for_selector('[data-exercise="hello-world"][data-status="passed"]', timeout=10_000)
    assert "Done!" in slide.locator(".check-result").inner_text()
    assert page.inner_text("#exercises-done [data-done]") != "0"
    page.close()


def test_hints_quizzes_and_the_steps_view(server, context):
    page = context.new_page()
    page.goto(server.url + "/courses/intro/steps/")
    card = page.locator('[data-exercise="hello-world"]')
    card.scroll_into_view_if_needed()
    hint = card.locator("[data-hint-next]")
    hidden_before = card.locator("[data-hints] li[hidden]").count()
    if hidden_before:  # a hint seen in the previous test's page stays seen
        hint.click()
        assert card.locator("[data-hints] li[hidden]").count() == hidden_before - 1
        left = hidden_before - 1
        if left:
            assert hint.inner_text() == f"Show another hint ({left} left)"
        else:
            assert hint.is_hidden()

    quiz = page.locator("form[data-quiz]").first
    quiz.scroll_into_view_if_needed()
    wrong = quiz.locator('input[data-correct="false"]').first
    wrong.check()
    quiz.locator("button[type=submit]").click()
    assert quiz.locator(".quiz-result").inner_text().startswith("Not quite")
    assert quiz.locator('.answer[data-result="wrong"]').count() == 1
    quiz.locator('input[data-correct="true"]').first.check()
    if quiz.get_attribute("data-multiple") == "true":
        wrong.uncheck()
    quiz.locator("button[type=submit]").click()
    assert quiz.locator(".quiz-result").inner_text() == "Right!"

    # The same slides, as blocks on one page, with a link back to the deck.
    assert page.locator("[data-slide]").count() > 10
    page.goto(server.url + "/courses/intro/steps/#3")
    page.wait_for_function("document.querySelector('[data-slide=\"3\"]').getAttribute('aria-current') === 'step'")
    assert page.get_attribute("#view-switch", "href") == "/courses/intro/#3"
    page.close()

import pytest

from tests.support import Learner, LiveServer, remove_test_sandboxes


@pytest.fixture(scope="session", autouse=True)
def _clean_docker():
    """Start and finish with no test sandboxes on the engine."""
    remove_test_sandboxes()
    yield
    remove_test_sandboxes()


@pytest.fixture(scope="session")
def server():
    """A live Labdeck (labdeck.serve) that creates sandboxes on demand."""
    live = LiveServer()
    yield live
    live.stop()


@pytest.fixture(scope="module")
def production():
    """The production layout (tests/production.py): two web processes behind
    nginx, PostgreSQL, Redis, the keeper and the checker under supervisord.
    One per test module, so that no module inherits another's kills."""
    from tests.production import ProductionLayout

    layout = ProductionLayout()
    yield layout
    layout.stop()


@pytest.fixture(scope="session")
def learner(server):
    """A learner with a ready sandbox, shared by the tests that only read."""
    learner = Learner(server)
    info = learner.start()
    assert info["state"] == "ready", info
    learner.info = info
    return learner


@pytest.fixture
def backend(settings):
    from sandboxes.backends import get_backend

    get_backend.cache_clear()
    yield get_backend()
    get_backend.cache_clear()


@pytest.fixture(scope="session")
def browser():
    """Debian's headless Chromium, shared by the page tests."""
    from playwright.sync_api import sync_playwright

    from tests.browser import launch

    with sync_playwright() as p:
        browser = launch(p)
        yield browser
        browser.close()


@pytest.fixture
def page(browser):
    """A page in a browser context of its own, closed however the test ends:
    a failed test leaves nothing running in the shared browser."""
    context = browser.new_context()
    try:
        yield context.new_page()
    finally:
        context.close()

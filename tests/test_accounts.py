"""Self-paced accounts: sign up, log in, log out; progress made anonymously
moves into the account and stays there."""
from datetime import timedelta

import pytest
from django.contrib.auth.models import User
from django.core.cache import cache
from django.utils import timezone

from labdeck.accounts import account_owner
from labdeck.models import Learner, Workshop
from lessons.models import Progress
from sandboxes.models import Sandbox
from sandboxes.owners import SESSION_KEY

pytestmark = pytest.mark.django_db

PASSWORD = "correct horse battery staple"


@pytest.fixture(autouse=True)
def _fast_passwords(settings):
    """Hashing passwords properly takes a third of a second each; not the point here."""
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


def anonymous_owner(client) -> str:
    """The owner key the course player gives an anonymous learner."""
    assert client.get("/courses/intro/").status_code == 200
    return client.session[SESSION_KEY]


def rows(owner: str) -> dict[str, Progress]:
    return {p.exercise: p for p in Progress.objects.filter(owner=owner, course="intro")}


def sign_up(client, username: str = "grace", **extra: str):
    return client.post("/accounts/signup/", {"username": username, "password1": PASSWORD,
                                             "password2": PASSWORD, **extra})


def test_it_moves_anonymous_progress_and_sandbox_into_a_new_account(client):
    """Signing up keeps what the learner did before: progress and sandbox."""
    old = anonymous_owner(client)
    Progress.objects.create(owner=old, course="intro", exercise="hello-world", status=Progress.PASSED,
                            first_passed_at=timezone.now(), attempts=1)
    Progress.objects.create(owner=old, course="intro", exercise="first-image", status=Progress.FAILED, attempts=2)
    sandbox = Sandbox.objects.create(owner=old, state=Sandbox.ASSIGNED)

    response = sign_up(client, next="/courses/intro/steps/")

    assert response.status_code == 302 and response["Location"] == "/courses/intro/steps/"
    new = account_owner(User.objects.get(username="grace"))
    assert client.session[SESSION_KEY] == new
    moved = rows(new)
    assert (moved["hello-world"].status, moved["first-image"].status) == (Progress.PASSED, Progress.FAILED)
    assert moved["first-image"].attempts == 2
    assert not Progress.objects.filter(owner=old).exists()
    sandbox.refresh_from_db()
    assert sandbox.owner == new
    assert "grace" in client.get("/courses/").content.decode()


def test_it_merges_into_an_existing_account_at_login(client):
    """Logging in merges per exercise: passed wins, counts add up, earliest pass kept."""
    user = User.objects.create_user("ada", password=PASSWORD)
    owner = account_owner(user)
    earlier = timezone.now() - timedelta(days=1)
    Progress.objects.create(owner=owner, course="intro", exercise="hello-world", status=Progress.FAILED,
                            attempts=3, hints_used=1)
    Progress.objects.create(owner=owner, course="intro", exercise="first-image", status=Progress.PASSED,
                            first_passed_at=earlier, attempts=1)
    old = anonymous_owner(client)
    Progress.objects.create(owner=old, course="intro", exercise="hello-world", status=Progress.PASSED,
                            first_passed_at=timezone.now(), attempts=1, hints_used=2)
    Progress.objects.create(owner=old, course="intro", exercise="first-image", status=Progress.FAILED,
                            attempts=4, missing=["no image yet"])
    Progress.objects.create(owner=old, course="intro", exercise="background", status=Progress.PENDING)

    response = client.post("/accounts/login/", {"username": "ada", "password": PASSWORD})

    assert response.status_code == 302 and response["Location"] == "/courses/"
    assert client.session[SESSION_KEY] == owner
    merged = rows(owner)
    assert set(merged) == {"hello-world", "first-image", "background"}
    assert (merged["hello-world"].status, merged["hello-world"].attempts, merged["hello-world"].hints_used) == (
        Progress.PASSED, 4, 3)
    assert (merged["first-image"].status, merged["first-image"].attempts) == (Progress.PASSED, 5)
    assert merged["first-image"].first_passed_at == earlier
    assert not Progress.objects.filter(owner=old).exists()


def test_it_keeps_progress_in_the_account_after_logout(client):
    """Logging out leaves progress with the account, and logging in finds it."""
    old = anonymous_owner(client)
    Progress.objects.create(owner=old, course="intro", exercise="hello-world", status=Progress.PASSED)
    sign_up(client)
    owner = client.session[SESSION_KEY]

    assert client.get("/accounts/logout/").status_code == 405, "logging out takes a POST"
    assert client.post("/accounts/logout/").status_code == 302

    assert client.session.get(SESSION_KEY, "") != owner
    assert anonymous_owner(client) != owner
    assert rows(owner)["hello-world"].status == Progress.PASSED
    client.post("/accounts/login/", {"username": "grace", "password": PASSWORD})
    assert client.session[SESSION_KEY] == owner
    assert rows(owner)["hello-world"].status == Progress.PASSED


def test_it_never_shows_one_account_the_progress_of_another(client, django_user_model):
    """A second user, even in the same browser after a logout, starts from nothing."""
    from django.test import Client

    old = anonymous_owner(client)
    Progress.objects.create(owner=old, course="intro", exercise="hello-world", status=Progress.PASSED)
    sign_up(client)
    first = client.session[SESSION_KEY]
    django_user_model.objects.create_user("linus", password=PASSWORD)

    other = Client()
    other.post("/accounts/login/", {"username": "linus", "password": PASSWORD})
    assert other.session[SESSION_KEY] not in ("", first)
    assert rows(other.session[SESSION_KEY]) == {}

    client.post("/accounts/logout/")
    client.post("/accounts/login/", {"username": "linus", "password": PASSWORD})
    assert client.session[SESSION_KEY] == other.session[SESSION_KEY]
    assert rows(client.session[SESSION_KEY]) == {}
    assert rows(first)["hello-world"].status == Progress.PASSED


def test_it_gives_no_progress_when_switching_accounts_without_logging_out(client):
    """Logging in as someone else on a shared browser hands them nothing of the last account."""
    User.objects.create_user("linus", password=PASSWORD)
    anonymous_owner(client)
    sign_up(client)
    first = client.session[SESSION_KEY]
    Progress.objects.create(owner=first, course="intro", exercise="hello-world", status=Progress.PASSED)

    client.post("/accounts/login/", {"username": "linus", "password": PASSWORD})

    assert client.session[SESSION_KEY] != first
    assert rows(client.session[SESSION_KEY]) == {}
    assert rows(first)["hello-world"].status == Progress.PASSED


def test_it_points_a_workshop_learner_at_their_account(client):
    """The instructor's dashboard keeps seeing a workshop learner who signs up."""
    instructor = User.objects.create_user("ada", password="x", is_staff=True)
    workshop = Workshop.objects.create(title="Containers 101", course="intro", instructor=instructor)
    client.post("/join/", {"code": workshop.code, "name": "Grace"})
    learner = Learner.objects.get()
    Progress.objects.create(owner=learner.owner, course="intro", exercise="hello-world", status=Progress.PASSED)

    sign_up(client)

    learner.refresh_from_db()
    assert learner.owner == client.session[SESSION_KEY] == account_owner(User.objects.get(username="grace"))
    assert rows(learner.owner)["hello-world"].status == Progress.PASSED


def test_it_shows_form_errors_on_a_bad_signup(client):
    """A mismatched password or a taken name is explained, and no account is made."""
    User.objects.create_user("grace", password=PASSWORD)
    anonymous_owner(client)
    response = client.post("/accounts/signup/", {"username": "grace", "password1": PASSWORD,
                                                 "password2": PASSWORD + "!"})
    page = response.content.decode()
    assert response.status_code == 400
    assert "A user with that username already exists." in page
    assert "The two password fields didn" in page
    assert User.objects.count() == 1
    assert not client.session[SESSION_KEY].startswith("user-")

    response = client.post("/accounts/login/", {"username": "grace", "password": "wrong"})
    assert response.status_code == 400 and "correct username and password" in response.content.decode()


def test_it_refuses_to_redirect_to_another_host(client):
    """`next` may only lead back into Labdeck."""
    User.objects.create_user("ada", password=PASSWORD)
    for target in ("https://evil.example/", "//evil.example/courses/", "/accounts/login/"):
        response = client.post("/accounts/login/", {"username": "ada", "password": PASSWORD, "next": target})
        assert response["Location"] == "/courses/", target
        client.post("/accounts/logout/")
    page = client.get("/accounts/login/?next=https://evil.example/").content.decode()
    assert "evil.example" not in page
    response = client.post("/accounts/login/?next=/courses/intro/", {"username": "ada", "password": PASSWORD})
    assert response["Location"] == "/courses/intro/"


def test_it_shows_who_is_logged_in_in_the_top_bar(client):
    """Anonymous: Log in and Sign up links; logged in: the name and a Log out button."""
    page = client.get("/courses/").content.decode()
    assert 'href="/accounts/login/?next=/courses/"' in page and "Sign up" in page
    sign_up(client)
    page = client.get("/courses/").content.decode()
    assert "data-username>grace<" in page and 'action="/accounts/logout/"' in page
    assert "Sign up" not in page


def test_it_refuses_a_weak_password(client):
    """Sign-up applies Django's password validators."""
    response = client.post("/accounts/signup/", {"username": "weak", "password1": "12345678",
                                                 "password2": "12345678"})
    assert response.status_code == 400
    assert "This password is too common." in response.content.decode()
    assert not User.objects.filter(username="weak").exists()


@pytest.fixture
def fresh_cache():
    """The failure counts live in the cache: start and leave it empty."""
    cache.clear()
    yield
    cache.clear()


def test_it_slows_down_password_guessing(client, django_user_model, fresh_cache):
    """After ten wrong passwords from one address, even the right one waits."""
    django_user_model.objects.create_user("kay", password=PASSWORD)
    for _ in range(10):
        assert client.post("/accounts/login/", {"username": "kay", "password": "wrong"}).status_code == 400
    response = client.post("/accounts/login/", {"username": "kay", "password": PASSWORD})
    assert response.status_code == 429
    assert "Too many failed logins" in response.content.decode()
    assert "_auth_user_id" not in client.session

"""Joining a workshop: code and display name, no account; guessing is slowed."""
import pytest
from django.contrib.auth.models import User
from django.core.cache import cache

from labdeck.models import JOIN_ALPHABET, Learner, Workshop
from sandboxes.owners import SESSION_KEY

pytestmark = pytest.mark.django_db


@pytest.fixture
def workshop():
    instructor = User.objects.create_user("ada", password="x", is_staff=True)
    return Workshop.objects.create(title="Containers 101", course="intro", instructor=instructor)


@pytest.fixture(autouse=True)
def _fresh_cache():
    cache.clear()


def test_it_makes_codes_easy_to_read_aloud(workshop):
    codes = {workshop.code} | {Workshop.objects.create(title="x", course="intro",
                                                       instructor=workshop.instructor).code for _ in range(50)}
    assert len(codes) == 51
    assert all(len(c) == 6 and set(c) <= set(JOIN_ALPHABET) for c in codes)
    assert not set("0O1IL") & set(JOIN_ALPHABET)


def test_it_lets_a_learner_join_with_the_code_and_a_name(client, workshop):
    response = client.post("/join/", {"code": workshop.code.lower()[:3] + " " + workshop.code.lower()[3:],
                                      "name": "Grace"})
    assert response.status_code == 302 and response["Location"] == "/courses/intro/"
    learner = Learner.objects.get()
    assert (learner.display_name, learner.workshop) == ("Grace", workshop)
    assert client.session[SESSION_KEY] == learner.owner
    # Coming back on the join link lands in the course again, as the same learner.
    assert client.get(f"/join/{workshop.code}/")["Location"] == "/courses/intro/"
    assert Learner.objects.count() == 1


def test_it_refuses_a_wrong_or_closed_code_with_a_message(client, workshop):
    response = client.post("/join/", {"code": "ZZZZZZ", "name": "Grace"})
    assert response.status_code == 404
    assert "No open workshop has this code" in response.content.decode()
    workshop.open = False
    workshop.save()
    assert client.post("/join/", {"code": workshop.code, "name": "Grace"}).status_code == 404
    assert not Learner.objects.exists()


def test_it_slows_down_guessing(client, workshop):
    for _ in range(10):
        assert client.post("/join/", {"code": "ABCDEF", "name": "Mallory"}).status_code == 404
    response = client.post("/join/", {"code": workshop.code, "name": "Mallory"})
    assert response.status_code == 429
    assert "Too many wrong codes" in response.content.decode()
    assert not Learner.objects.exists()


def test_only_staff_print_the_join_cards(client, workshop):
    url = f"/workshops/{workshop.code}/cards/?count=3"
    assert client.get(url).status_code == 302  # to the admin login
    client.post("/join/", {"code": workshop.code, "name": "Grace"})
    assert client.get(url).status_code == 302, "a learner is no instructor"
    client.force_login(workshop.instructor)
    page = client.get(url).content.decode()
    assert page.count("data-card") == 3
    assert workshop.code in page and f"/join/{workshop.code}/" in page and "<svg" in page

"""The web process itself (labdeck/serve.py): what it believes of a request."""
import requests

from labdeck.ratelimit import MAX_FAILURES
from tests.support import LiveServer


def wrong_login(http: requests.Session, url: str, address: str) -> int:
    http.get(url + "/accounts/login/")
    return http.post(url + "/accounts/login/", headers={"X-Forwarded-For": address, "X-Forwarded-Proto": "https"},
                     data={"username": "nobody", "password": "wrong",
                           "csrfmiddlewaretoken": http.cookies.get("csrftoken", "")},
                     allow_redirects=False).status_code


def test_without_proxy_headers_a_claimed_address_does_not_escape_the_rate_limit():
    """`make run` serves browsers directly: an X-Forwarded-For the client
    writes itself must not make each guess come from a new address."""
    server = LiveServer(keeper=False)
    try:
        http = requests.Session()
        codes = [wrong_login(http, server.url, f"198.51.100.{i}") for i in range(MAX_FAILURES + 1)]
    finally:
        server.stop()
    assert codes[:MAX_FAILURES] == [400] * MAX_FAILURES, codes
    assert codes[-1] == 429, codes

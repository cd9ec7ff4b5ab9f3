"""The production layout on real parts (tests/production.py): PostgreSQL,
Redis, two web processes behind nginx, the pool keeper and the checker,
under supervisord, as `make production` starts them."""
import threading
import time

import psutil
import requests

from tests.support import Learner

STATIC = "/static/vendor/xterm/VERSIONS"


def served_by(response: requests.Response) -> str:
    assert response.status_code == 200, response.text[:500]
    return response.headers["X-Labdeck-Process"]


def wrong_join(http: requests.Session, url: str) -> requests.Response:
    """A join code that no workshop has: a query in PostgreSQL, a failure
    counted in Redis (the join codes' rate limit, 10 per 5 minutes)."""
    if "csrftoken" not in http.cookies:
        http.get(url + "/join/", timeout=10)
    answer = http.post(url + "/join/", data={"code": "ZZZZZZ", "name": "Ada"}, timeout=10,
                       headers={"X-CSRFToken": http.cookies["csrftoken"], "Referer": url + "/join/"})
    assert answer.status_code == 404, answer.text[:500]
    return answer


def alive(pid: int) -> bool:
    try:
        return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False


def wait_for(predicate, timeout: float, what: str):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if value := predicate():
            return value
        time.sleep(0.2)
    raise AssertionError(f"{what} within {timeout} s")


def test_every_program_runs_under_the_supervisor(production):
    states = production.status()
    assert set(states) == {"redis", "web-0", "web-1", "keeper", "checker", "nginx"}, states
    assert all(state == "RUNNING" for state, _ in states.values()), states


def test_nginx_spreads_requests_over_both_web_processes(production):
    assert {served_by(requests.get(production.url + "/", timeout=10)) for _ in range(6)} == {"web-0", "web-1"}


def test_nginx_serves_the_static_files_itself(production):
    static = requests.get(production.url + STATIC, timeout=10)
    assert static.status_code == 200 and "xterm" in static.text
    assert static.headers["Server"] == "nginx" and "X-Labdeck-Process" not in static.headers
    # The web processes leave them to nginx (LABDECK_SERVE_STATIC=False).
    assert requests.get(production.web_url(0) + STATIC, timeout=10).status_code == 404


def test_a_learner_gets_the_keepers_sandbox_and_a_terminal_through_nginx(production):
    # The keeper has made the warm pool's sandbox, a row in PostgreSQL.
    ready = wait_for(lambda: production.psql("SELECT public_id FROM sandboxes_sandbox WHERE state = 'ready'"),
                     90, "no ready sandbox from the keeper\n" + production.log("keeper")[-2000:])
    learner = Learner(production)
    info = learner.start()
    assert info["state"] == "ready", info
    assert info["sandbox"] in ready.split()
    assert production.psql(f"SELECT state FROM sandboxes_sandbox WHERE public_id = '{info['sandbox']}'") == "assigned"
    term = learner.terminal(info)  # ws:// through nginx's /ws/
    term.read_until("# ")
    term.send("docker run busybox echo hello world\r")
    term.read_line("hello world", timeout=30)
    term.close()


def test_a_killed_web_process_leaves_the_site_up_and_comes_back(production):
    killed = production.kill_web(0)
    wait_for(lambda: not alive(killed), 5, f"web-0 ({killed}) still runs")
    # Meanwhile every request gets an answer from web-1, a POST too (nginx
    # retries only what it has not sent: a refused connection).
    production.redis("DEL", ":1:failures:join:127.0.0.1")
    http = requests.Session()
    served = []
    for _ in range(4):
        served.append(served_by(http.get(production.url + "/", timeout=10)))
        served.append(wrong_join(http, production.url).headers["X-Labdeck-Process"])
    assert served == ["web-1"] * 8
    pid = production.wait_web(0, not_pid=killed, timeout=30)
    assert pid != killed
    # nginx sends to it again as soon as it is back.
    assert {served_by(requests.get(production.url + "/", timeout=10)) for _ in range(4)} == {"web-0", "web-1"}
    assert [w.state for w in production.web()] == ["RUNNING", "RUNNING"]


def test_a_restarted_web_process_answers_with_a_new_pid(production):
    before = production.web()[1].pid
    after = production.restart_web(1)
    assert after != before and production.web()[1].pid == after


def test_the_programs_use_postgresql_and_redis(production):
    """Both web processes count one client's wrong join codes together in
    Redis, and hold their PostgreSQL connections, named after themselves."""
    key = ":1:failures:join:127.0.0.1"
    production.redis("DEL", key)
    http = requests.Session()
    served = []
    while set(served) != {"web-0", "web-1"} and len(served) < 6:
        served.append(wrong_join(http, production.url).headers["X-Labdeck-Process"])
    assert set(served) == {"web-0", "web-1"}, served
    assert production.redis("GET", key) == str(len(served))

    names = production.psql("SELECT DISTINCT application_name FROM pg_stat_activity "
                            f"WHERE datname = '{production.db_name}'").split()
    assert {"web-0", "web-1", "keeper"} <= set(names), names
    for web in production.web():
        peers = {c.raddr.port for c in psutil.Process(web.pid).net_connections("tcp") if c.raddr}
        assert {production.db_port, production.redis_port} <= peers, (web, peers)


def test_the_programs_outlive_postgresql_dropping_their_connections(production):
    """As after a restart of PostgreSQL: the web processes' pools hand out
    only live connections, and the keeper takes a fresh one and goes on."""
    keeper = production.status()["keeper"][1]
    production.redis("DEL", ":1:failures:join:127.0.0.1")
    http = requests.Session()
    for i in range(2):
        wrong_join(http, production.web_url(i))  # each has pooled connections now
    dropped = production.psql("SELECT array_agg(DISTINCT application_name) FROM (SELECT application_name, "
                              "pg_terminate_backend(pid) FROM pg_stat_activity "
                              f"WHERE datname = '{production.db_name}' AND pid <> pg_backend_pid()) AS t")
    assert {"web-0", "web-1", "keeper"} <= set(dropped.strip("{}").split(",")), dropped
    for i in range(2):
        wrong_join(http, production.web_url(i))
    wait_for(lambda: "keeper" in production.psql("SELECT application_name FROM pg_stat_activity "
                                                 f"WHERE datname = '{production.db_name}'").split(),
             10, "the keeper did not reconnect")
    assert production.status()["keeper"] == ("RUNNING", keeper), production.log("keeper")[-2000:]


def test_a_second_start_adds_a_web_process_and_restarts_the_others_without_a_failed_request(production):
    """As a second `make production` with LABDECK_WEB_PROCESSES raised: web-2
    starts, nginx reloads, every program restarts in turn, and meanwhile
    every request gets its answer. (Last: it leaves three web processes.)"""
    before = production.status()
    answers, failures, done = [], [], threading.Event()

    def ask() -> None:
        while not done.is_set():
            try:
                answers.append(served_by(requests.get(production.url + "/", timeout=10)))
            except (AssertionError, requests.RequestException) as exc:
                failures.append(repr(exc))
            time.sleep(0.05)

    asking = threading.Thread(target=ask)
    asking.start()
    try:
        production.apply(LABDECK_WEB_PROCESSES="3")
    finally:
        done.set()
        asking.join()
    assert not failures, failures[:5]
    assert {"web-0", "web-1", "web-2"} <= set(answers)
    after = production.status()
    assert all(after[name][1] != pid for name, (_, pid) in before.items() if name not in ("redis", "nginx"))
    assert [w.state for w in production.web()] == ["RUNNING"] * 3

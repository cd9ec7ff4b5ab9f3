"""The learner's own files: the path rules (sandboxes/files.py), and the
endpoints (/sandbox/files, /sandbox/files/text) against a live server and
real sandboxes: sizes capped, paths kept in, no one else's sandbox reached."""
from __future__ import annotations

import itertools
import secrets

import pytest
import requests

from sandboxes import files
from tests.support import Learner

LIMIT = 5 << 20  # LABDECK_UPLOAD_LIMIT's default
DOWNLOAD_LIMIT = 10 << 20

# -- the path rules ----------------------------------------------------------


@pytest.mark.parametrize(("text", "path"), [
    ("Dockerfile", "/root/Dockerfile"),
    ("app/Dockerfile", "/root/app/Dockerfile"),
    ("./a//b/./c", "/root/a/b/c"),
    ("~/notes.txt", "/root/notes.txt"),
    ("/srv/app/Dockerfile", "/srv/app/Dockerfile"),
    ("//etc//motd", "/etc/motd"),
    ("/tmpfile", "/tmpfile"),
    ("/root/ünïcode file.txt", "/root/ünïcode file.txt"),
])
def test_a_path_is_made_absolute_from_the_home(text, path):
    assert files.sandbox_path(text) == path


@pytest.mark.parametrize(("text", "why"), [
    ("", "Name a file"),
    ("../etc/passwd", "cannot go up"),
    ("/root/../etc/passwd", "cannot go up"),
    ("a/../../b", "cannot go up"),
    ("/root/..", "cannot go up"),
    ("app/", "names a directory"),
    ("~", "names a directory"),
    ("/", "names a directory"),
    ("a/.", "names a directory"),
    ("/tmp/x", "/tmp is mounted inside the sandbox"),
    ("/tmp", "/tmp is mounted inside the sandbox"),
    ("/proc/self/environ", "/proc is mounted"),
    ("/dev/zero", "/dev is mounted"),
    ("/sys/kernel/x", "/sys is mounted"),
    ("with\nnewline", "control characters"),
    ("nul\0byte", "control characters"),
    ("x" * 1025, "longer than 1024"),
])
def test_a_nonsense_path_is_refused_with_a_reason(text, why):
    with pytest.raises(files.Refused, match=why):
        files.sandbox_path(text)


@pytest.mark.parametrize(("directory", "name", "path"), [
    ("", "notes.txt", "/root/notes.txt"),
    ("/srv/app", "notes.txt", "/srv/app/notes.txt"),
    ("/srv/app/", "notes.txt", "/srv/app/notes.txt"),
    ("/", "notes.txt", "/notes.txt"),
    ("~", "notes.txt", "/root/notes.txt"),
    ("work", ".env", "/root/work/.env"),
])
def test_an_upload_lands_in_the_chosen_directory(directory, name, path):
    assert files.upload_path(directory, name) == path


@pytest.mark.parametrize(("directory", "name"), [
    ("", ""), ("", ".."), ("", "."), ("", "a/b"), ("../x", "a"), ("/tmp", "a"), ("/root", "a\nb"),
])
def test_an_upload_is_refused_a_name_that_is_no_file_name(directory, name):
    with pytest.raises(files.Refused):
        files.upload_path(directory, name)


@pytest.mark.parametrize(("path", "name"), [
    ("/root/Dockerfile", "Dockerfile"),
    ('/root/a"b;c\\d:e.txt', "a_b_c_d_e.txt"),
    ("/root/.bashrc", "bashrc"),
    ("/root/ünïcode file.txt", "ünïcode file.txt"),
    ("/root/...", "download"),
    ("/root/tab\there", "tab_here"),
    ("/root/" + "n" * 200 + ".tar.gz", "n" * 110 + ".gz"),
])
def test_a_download_gets_a_safe_file_name(path, name):
    assert files.download_name(path) == name


def test_the_editor_takes_utf8_text_only():
    assert files.as_text("FROM busybox\nRUN echo ü\n".encode()) == "FROM busybox\nRUN echo ü\n"
    assert files.as_text(b"ELF\0\1") is None
    assert files.as_text(b"\xff\xfe latin-1 \xe9") is None


def test_sizes_are_told_in_binary_units():
    assert [files.human_size(n) for n in (10, 1536, 5 << 20, 3 << 30)] == ["10 bytes", "1.5 KiB", "5 MiB", "3 GiB"]


def test_the_upload_limit_is_a_strict_size_setting(monkeypatch):
    from labdeck.settings import envbytes

    monkeypatch.setenv("LABDECK_UPLOAD_LIMIT", "64k")
    assert envbytes("LABDECK_UPLOAD_LIMIT", "5m") == 65536
    monkeypatch.setenv("LABDECK_UPLOAD_LIMIT", "5 MB")
    with pytest.raises(ValueError, match="LABDECK_UPLOAD_LIMIT"):
        envbytes("LABDECK_UPLOAD_LIMIT", "5m")


# -- the endpoints, on a live server -----------------------------------------

_marks = itertools.count()


def shell(term, command: str) -> None:
    """Run a command in the learner's terminal and wait for it to end."""
    mark = f"done-{next(_marks)}-{secrets.token_hex(2)}"
    term.send(f"{command}; echo {mark}\r")
    term.read_line(mark, timeout=30)


@pytest.fixture(scope="module")
def term(learner):
    terminal = learner.terminal(learner.info)
    terminal.read_until("# ", timeout=30)
    yield terminal
    terminal.close()


def upload(learner, data: bytes, **query) -> requests.Response:
    return learner.http.post(learner.server.url + "/sandbox/files", params=query, data=data,
                             headers={"X-CSRFToken": learner.http.cookies.get("csrftoken", ""),
                                      "Content-Type": "application/octet-stream"})


def download(learner, path: str) -> requests.Response:
    return learner.http.get(learner.server.url + "/sandbox/files", params={"path": path})


def test_an_upload_is_written_into_the_sandbox_and_seen_by_cat(learner, term):
    token = secrets.token_hex(6)
    answer = upload(learner, f"uploaded {token}\n".encode(), dir="", name="hello.txt")
    assert answer.status_code == 200, answer.text
    assert answer.json()["path"] == "/root/hello.txt"
    term.send("cat /root/hello.txt; stat -c '%a %u' /root/hello.txt\r")
    term.read_line(f"uploaded {token}")
    term.read_line("644 0", since=term.end)
    answer = upload(learner, b"FROM busybox\n", path="work/new/Dockerfile")
    assert answer.json()["path"] == "/root/work/new/Dockerfile"
    assert download(learner, "~/work/new/Dockerfile").content == b"FROM busybox\n"


def test_a_download_is_an_attachment_with_the_file_s_bytes(learner, term):
    shell(term, "printf 'a\\000b\\377c\\n' > '/root/we\"ird;name.bin'")
    answer = download(learner, '/root/we"ird;name.bin')
    assert answer.status_code == 200, answer.text
    assert answer.content == b"a\0b\xffc\n"
    assert answer.headers["Content-Type"] == "application/octet-stream"
    assert answer.headers["Content-Disposition"] == 'attachment; filename="we_ird_name.bin"'
    assert "sandbox" in answer.headers["Content-Security-Policy"]
    assert answer.headers["X-Content-Type-Options"] == "nosniff"


def test_a_download_takes_regular_files_within_its_cap_only(learner, term):
    shell(term, "ln -sf /dev/zero /root/zero; mkdir -p /root/adir; "
                f"head -c {DOWNLOAD_LIMIT + 1} /dev/zero > /root/huge")
    for path in ("/root/zero", "/root/adir", "/root/nothing-here"):
        answer = download(learner, path)
        assert answer.status_code == 404 and "There is no file at" in answer.json()["message"]
    answer = download(learner, "/root/huge")
    assert answer.status_code == 413
    assert answer.json()["message"] == "/root/huge is larger than 10 MiB, the most a download takes."
    shell(term, "rm /root/huge")


def test_an_upload_over_the_cap_is_refused_and_nothing_is_written(learner):
    answer = upload(learner, b"x" * (LIMIT + 1), path="/root/too-big")
    assert answer.status_code == 413
    assert answer.json()["message"] == "That file is larger than 5 MiB, the most an upload takes."
    # Without a length (chunked), it is cut off at the cap as it comes.
    chunks = (b"y" * 65536 for _ in range(LIMIT // 65536 + 2))
    answer = learner.http.post(learner.server.url + "/sandbox/files", params={"path": "/root/too-big"}, data=chunks,
                               headers={"X-CSRFToken": learner.http.cookies["csrftoken"],
                                        "Content-Type": "application/octet-stream"})
    assert answer.status_code == 413 and "larger than 5 MiB" in answer.json()["message"]
    assert download(learner, "/root/too-big").status_code == 404
    exactly = upload(learner, b"z" * LIMIT, path="/root/just-fits")
    assert exactly.status_code == 200 and exactly.json()["size"] == LIMIT
    chunked = learner.http.post(learner.server.url + "/sandbox/files", params={"path": "/root/chunked"},
                                data=(b"c" * 1000 for _ in range(3)),
                                headers={"X-CSRFToken": learner.http.cookies["csrftoken"],
                                         "Content-Type": "application/octet-stream"})
    assert chunked.status_code == 200 and download(learner, "/root/chunked").content == b"c" * 3000


def test_a_path_that_leaves_the_sandbox_or_names_no_file_is_refused(learner):
    for path, why in (("../etc/passwd", "cannot go up"), ("/tmp/x", "/tmp is mounted"), ("/root/", "directory")):
        answer = upload(learner, b"x", path=path)
        assert answer.status_code == 400 and why in answer.json()["message"], answer.text
        assert download(learner, path).status_code == 400
    answer = upload(learner, b"x", path="/root")
    assert answer.status_code == 409 and answer.json()["message"] == "/root is a directory"


def test_an_upload_needs_the_csrf_token_and_a_plain_body(learner):
    bare = learner.http.post(learner.server.url + "/sandbox/files", params={"path": "/root/x"}, data=b"x",
                             headers={"Content-Type": "application/octet-stream"})
    assert bare.status_code == 403
    form = learner.http.post(learner.server.url + "/sandbox/files", params={"path": "/root/x"}, data={"a": "b"},
                             headers={"X-CSRFToken": learner.http.cookies["csrftoken"]})
    assert form.status_code == 415


def test_the_editor_opens_text_and_refuses_binary_or_large_files(learner, term):
    url = learner.server.url + "/sandbox/files/text"
    upload(learner, "FROM busybox\nCMD echo ü\n".encode(), path="/root/edit/Dockerfile")
    opened = learner.http.get(url, params={"path": "/root/edit/Dockerfile"}).json()
    assert (opened["state"], opened["text"]) == ("opened", "FROM busybox\nCMD echo ü\n")
    new = learner.http.get(url, params={"path": "/root/edit/new.sh"}).json()
    assert (new["state"], new["text"]) == ("new", "")
    shell(term, "printf 'ELF\\000\\001' > /root/edit/binary; head -c 1048577 /dev/zero | tr '\\0' a > /root/edit/big")
    binary = learner.http.get(url, params={"path": "/root/edit/binary"})
    assert binary.status_code == 415 and "is not text" in binary.json()["message"]
    big = learner.http.get(url, params={"path": "/root/edit/big"})
    assert big.status_code == 413
    assert big.json()["message"] == "/root/edit/big is larger than 1 MiB, the most the editor takes."


def test_no_one_else_reaches_a_learner_s_files(server, learner):
    token = secrets.token_hex(6)
    assert upload(learner, token.encode(), path="/root/secret").status_code == 200
    nobody = requests.get(server.url + "/sandbox/files", params={"path": "/root/secret"})
    assert nobody.status_code == 404 and "no sandbox" in nobody.json()["message"]
    assert requests.post(server.url + "/sandbox/files", params={"path": "/root/secret"}, data=b"x").status_code == 403
    other = Learner(server)
    answer = other.http.get(server.url + "/sandbox/files/text", params={"path": "/root/secret"})
    assert answer.status_code == 404 and "no sandbox" in answer.json()["message"]
    assert upload(other, b"theirs", path="/root/secret").status_code == 404
    # With a sandbox of their own, the same path is a file of that sandbox.
    assert other.start()["state"] == "ready"
    assert download(other, "/root/secret").status_code == 404
    assert upload(other, b"theirs", path="/root/secret").status_code == 200
    assert download(learner, "/root/secret").content == token.encode()
    assert download(other, "/root/secret").content == b"theirs"

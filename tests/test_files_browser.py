"""The learner's own files in a real browser: drop a file on the terminal,
download one, write a Dockerfile in the editor and build it, and the limits."""
from __future__ import annotations

import secrets

import pytest
from playwright.sync_api import TimeoutError as PlaywrightTimeout

from tests.browser import wait_for_terminal_line
from tests.support import LiveServer

pytestmark = pytest.mark.browser

LIMIT = 5 << 20  # LABDECK_UPLOAD_LIMIT's default

# A drop as a person makes it: a DataTransfer holding a File, dispatched on the terminal.
DROP = """([name, text, size]) => {
  const data = new DataTransfer();
  const content = size ? new Uint8Array(size) : new TextEncoder().encode(text);
  data.items.add(new File([content], name, {type: "text/plain"}));
  const target = document.querySelector("[data-terminal]");
  for (const type of ["dragenter", "dragover", "drop"]) {
    target.dispatchEvent(new DragEvent(type, {dataTransfer: data, bubbles: true, cancelable: true}));
  }
}"""


@pytest.fixture(scope="module")
def server():
    """A server of this module's own: the session's server holds the sandboxes
    of every earlier test's learners, up to its LABDECK_MAX_SANDBOXES, and a
    learner past them waits in line."""
    live = LiveServer()
    yield live
    live.stop()


@pytest.fixture(scope="module")
def shell_page(server, browser):
    """One learner's page with a ready terminal, shared by the tests here."""
    context = browser.new_context(accept_downloads=True)
    page = context.new_page()
    page.goto(server.url + "/")
    page.click("#start")
    try:
        page.wait_for_selector("#status[data-state=ready]", timeout=60_000)
    except PlaywrightTimeout:
        pytest.fail(f"no ready sandbox after 60 s; the page says {page.inner_text('#status')!r}\n"
                    + server.output()[-3000:])
    wait_for_terminal_line(page, r"learner@labdeck:~# $")
    yield page
    context.close()


def run(page, command: str) -> None:
    page.click("[data-terminal]")
    page.keyboard.type(command)
    page.keyboard.press("Enter")


def notice(page, text: str) -> None:
    page.wait_for_function("text => document.querySelector('[data-files-notice]').textContent === text",
                           arg=text, timeout=20_000)


def test_a_file_dropped_on_the_terminal_lands_in_the_home(shell_page):
    page, token = shell_page, secrets.token_hex(6)
    page.evaluate(DROP, ["notes.txt", f"dropped {token}\n", 0])
    notice(page, "Uploaded notes.txt to /root/notes.txt.")
    run(page, "cat notes.txt")
    wait_for_terminal_line(page, rf"^dropped {token}\s*$")
    # Another directory, chosen in the bar; the file picker drops the same way.
    page.fill("[data-upload-dir]", "/srv/app")
    page.set_input_files("[data-upload-input]", files=[
        {"name": "picked.txt", "mimeType": "text/plain", "buffer": f"picked {token}\n".encode()}])
    notice(page, "Uploaded picked.txt to /srv/app/picked.txt.")
    run(page, "cat /srv/app/picked.txt")
    wait_for_terminal_line(page, rf"^picked {token}\s*$")
    page.fill("[data-upload-dir]", "/root")


def test_a_file_written_in_the_sandbox_downloads_with_its_bytes(shell_page):
    page = shell_page
    run(page, r"printf 'bin\001\377\000end\n' > /root/blob.bin; echo written-blob")
    wait_for_terminal_line(page, r"^written-blob\s*$")
    page.fill("[data-file-path]", "/root/blob.bin")
    with page.expect_download() as download:
        page.click("[data-file-download]")
    assert download.value.suggested_filename == "blob.bin"
    with open(download.value.path(), "rb") as saved:
        assert saved.read() == b"bin\x01\xff\x00end\n"
    notice(page, "Downloaded /root/blob.bin.")
    page.fill("[data-file-path]", "/root/no-such-file")
    page.click("[data-file-download]")
    notice(page, "There is no file at /root/no-such-file (a directory, a link or a device is not one).")


def test_the_editor_writes_a_dockerfile_that_builds(shell_page):
    page, token = shell_page, secrets.token_hex(4)
    page.fill("[data-file-path]", "/root/app/Dockerfile")
    page.click("[data-file-edit]")
    page.wait_for_selector("[data-editor] .cm-content", timeout=20_000)
    assert page.inner_text("[data-editor-message]") == "/root/app/Dockerfile is a new file: Save creates it."
    assert page.input_value("[data-editor-mode]") == "dockerfile"
    page.click("[data-editor] .cm-content")
    for line in ("FROM busybox", f"RUN echo built-{token} > /built", "CMD cat /built"):
        page.keyboard.type(line)
        page.keyboard.press("Enter")
    assert "(not saved)" in page.inner_text("[data-editor-path]")
    page.keyboard.press("Control+s")
    page.wait_for_function("() => document.querySelector('[data-editor-message]').textContent"
                           " === 'Saved /root/app/Dockerfile.'", timeout=20_000)
    assert page.inner_text("[data-editor-path]") == "/root/app/Dockerfile"
    run(page, "cat /root/app/Dockerfile")
    wait_for_terminal_line(page, rf"^RUN echo built-{token} > /built\s*$")
    run(page, f"docker build -q -t edited-{token} /root/app >/dev/null && docker run --rm edited-{token}")
    wait_for_terminal_line(page, rf"^built-{token}\s*$", timeout=90)
    # Opened again, it shows what was saved.
    page.click("[data-editor-close]")
    assert page.is_hidden("[data-editor]")
    page.click("[data-file-edit]")
    page.wait_for_function("() => document.querySelector('[data-editor] .cm-content').innerText"
                           ".includes('CMD cat /built')", timeout=20_000)
    assert page.inner_text("[data-editor-message]") == ""
    page.click("[data-editor-close]")


def test_a_file_over_the_cap_is_refused_with_the_message(shell_page):
    page = shell_page
    page.evaluate(DROP, ["big.bin", "", LIMIT + 1])
    notice(page, "big.bin is larger than 5 MiB, the most an upload takes.")
    assert page.get_attribute("[data-files-notice]", "data-kind") == "error"
    # The server says the same to a page that sends it anyway.
    answer = page.evaluate("""async size => {
      const response = await fetch("/sandbox/files?path=/root/big.bin", {method: "POST", body: new Uint8Array(size),
        headers: {"Content-Type": "application/octet-stream", "X-CSRFToken": LabdeckSandbox.csrfToken()}});
      return [response.status, (await response.json()).message];
    }""", LIMIT + 1)
    assert answer == [413, "That file is larger than 5 MiB, the most an upload takes."]
    run(page, "ls /root/big.bin")
    wait_for_terminal_line(page, r"big\.bin': No such file or directory")
    # The editor has a cap of its own, and takes text only.
    run(page, r"head -c 2000000 /dev/zero | tr '\0' a > /root/long.txt; printf '\177ELF\000' > /root/prog; "
              "echo made-both")
    wait_for_terminal_line(page, r"^made-both\s*$")
    page.fill("[data-file-path]", "/root/long.txt")
    page.click("[data-file-edit]")
    notice(page, "/root/long.txt is larger than 1 MiB, the most the editor takes.")
    page.fill("[data-file-path]", "/root/prog")
    page.click("[data-file-edit]")
    notice(page, "/root/prog is not text (it is binary, or not UTF-8): download it instead.")
    assert page.is_hidden("[data-editor]")


def test_another_learner_cannot_reach_the_first_learner_s_files(shell_page, browser, server):
    page, token = shell_page, secrets.token_hex(6)
    page.evaluate(DROP, ["mine.txt", token, 0])
    notice(page, "Uploaded mine.txt to /root/mine.txt.")
    other = browser.new_context()
    try:
        theirs = other.new_page()
        theirs.goto(server.url + "/")
        answers = theirs.evaluate("""async () => {
          const get = await fetch("/sandbox/files?path=/root/mine.txt");
          const text = await fetch("/sandbox/files/text?path=/root/mine.txt");
          const put = await fetch("/sandbox/files?path=/root/mine.txt", {method: "POST", body: "overwritten",
            headers: {"Content-Type": "application/octet-stream", "X-CSRFToken": LabdeckSandbox.csrfToken()}});
          const forged = await fetch("/sandbox/files?path=/root/mine.txt", {method: "POST", body: "overwritten",
            headers: {"Content-Type": "application/octet-stream"}});
          return [get.status, (await get.json()).message, text.status, put.status, forged.status];
        }""")
        assert answers == [404, "You have no sandbox yet: start one first.", 404, 404, 403]
    finally:
        other.close()
    page.fill("[data-file-path]", "/root/mine.txt")
    with page.expect_download() as download:
        page.click("[data-file-download]")
    with open(download.value.path(), "rb") as saved:
        assert saved.read() == token.encode()

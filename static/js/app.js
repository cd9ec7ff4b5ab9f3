// The learner page: ask for a sandbox, wait in line if needed, then show
// the terminal. Reloading the page finds the same sandbox and shell.
(function () {
  "use strict";
  const statusEl = document.getElementById("status");
  const messageEl = document.getElementById("message");
  const startBtn = document.getElementById("start");
  const welcome = document.getElementById("welcome");
  const pane = document.getElementById("terminal-pane");
  const LABELS = {
    idle: "Not started", starting: "Starting your sandbox…", connecting: "Connecting…",
    ready: "Ready", reconnecting: "Reconnecting…", queued: "Waiting in line",
    unavailable: "Sandbox host unavailable", failed: "Could not start", exited: "Shell ended",
    closed: "Disconnected",
  };
  let terminal = null;
  let pollTimer = null;

  function setState(state, message) {
    statusEl.dataset.state = state;
    statusEl.textContent = LABELS[state] || state;
    messageEl.textContent = message || "";
  }

  function csrfToken() {
    const match = document.cookie.match(/(?:^|;\s*)csrftoken=([^;]+)/);
    return match ? decodeURIComponent(match[1]) : "";
  }

  function openTerminal(info) {
    if (terminal) return;
    welcome.hidden = true;
    pane.hidden = false;
    const scheme = location.protocol === "https:" ? "wss://" : "ws://";
    terminal = window.LabdeckTerminal.mount(document.getElementById("terminal"), {
      url: scheme + location.host + info.terminal_url,
      onState: (state, message) => setState(state, message),
    });
    terminal.term.focus();
  }

  function handle(info) {
    clearTimeout(pollTimer);
    if (info.state === "ready" || info.state === "assigned") {
      openTerminal(info);
      return;
    }
    if (info.state === "queued") {
      setState("queued", info.message);
      statusEl.textContent = "Waiting in line: number " + info.position;
      pollTimer = setTimeout(start, 1000);
    } else if (info.state === "starting") {
      setState("starting", info.message);
      pollTimer = setTimeout(start, 500);
    } else {
      setState(info.state, info.message);
      startBtn.disabled = false;
      startBtn.textContent = "Try again";
    }
  }

  async function start() {
    startBtn.disabled = true;
    if (statusEl.dataset.state === "idle") setState("starting");
    try {
      const response = await fetch("/sandbox/start", {
        method: "POST", headers: {"X-CSRFToken": csrfToken()}, credentials: "same-origin",
      });
      handle(await response.json());
    } catch (err) {
      setState("unavailable", "Labdeck cannot be reached. Retrying…");
      pollTimer = setTimeout(start, 2000);
    }
  }

  async function resume() {
    try {
      const response = await fetch("/sandbox/status", {credentials: "same-origin"});
      const info = await response.json();
      if (info.state === "assigned" || info.state === "starting") handle(info);
    } catch (err) { /* the Start button still works */ }
  }

  startBtn.addEventListener("click", start);
  resume();
})();

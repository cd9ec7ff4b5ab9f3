// The learner page: ask for a sandbox, wait in line if needed, then show
// the terminal. Reloading the page finds the same sandbox and shell.
// Getting the sandbox is LabdeckSandbox's job (sandbox.js).
(function () {
  "use strict";
  const statusEl = document.getElementById("status");
  const messageEl = document.getElementById("message");
  const startBtn = document.getElementById("start");
  const welcome = document.getElementById("welcome");
  const pane = document.getElementById("terminal-pane");
  const Sandbox = window.LabdeckSandbox;
  let terminal = null;
  let flow = null;

  function setState(state, message, info) {
    statusEl.dataset.state = state;
    statusEl.textContent = Sandbox.label(state, info);
    messageEl.textContent = message || "";
  }

  function openTerminal(info) {
    if (terminal) return;
    welcome.hidden = true;
    pane.hidden = false;
    terminal = window.LabdeckTerminal.mount(document.getElementById("terminal"), {
      url: Sandbox.terminalUrl(info),
      onState: (state, message) => setState(state, message),
    });
    terminal.term.focus();
  }

  function sandboxState(state, message, info) {
    setState(state, message, info);
    if (state === "starting" || state === "queued" || info.retrying) {
      startBtn.disabled = true;
    } else {  // the server gave up (unavailable, failed): let the learner retry
      startBtn.disabled = false;
      startBtn.textContent = "Try again";
    }
  }

  const callbacks = {onState: sandboxState, onReady: openTerminal};

  function start() {
    startBtn.disabled = true;
    if (statusEl.dataset.state === "idle") setState("starting");
    if (flow) flow.stop();
    flow = Sandbox.start(callbacks);
  }

  startBtn.addEventListener("click", start);
  flow = Sandbox.resume(callbacks);
})();

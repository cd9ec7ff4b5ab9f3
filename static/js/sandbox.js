// Getting a sandbox: ask the server for one, follow it while it starts or
// while the learner waits in line, and say when it is ready.
//
//   LabdeckSandbox.start({onState, onReady})   POST /sandbox/start (safe to repeat)
//   LabdeckSandbox.resume({onState, onReady})  GET /sandbox/status: pick up a sandbox
//                                              this session already has, if any
//
// onState(state, message, info) reports "starting", "queued" (info.position),
// "unavailable" or "failed"; info.retrying is true when the flow retries by
// itself. onReady(info) gets the sandbox (info.terminal_url). Both calls
// return {stop()}, which ends the polling.
(function () {
  "use strict";

  const LABELS = {
    idle: "Not started", starting: "Starting your sandbox…", connecting: "Connecting…",
    ready: "Ready", reconnecting: "Reconnecting…", queued: "Waiting in line",
    unavailable: "Sandbox host unavailable", failed: "Could not start", exited: "Shell ended",
    closed: "Disconnected",
  };
  const POLL_QUEUED_MS = 1000;
  const POLL_STARTING_MS = 500;
  const RETRY_UNREACHABLE_MS = 2000;

  function csrfToken() {
    const match = document.cookie.match(/(?:^|;\s*)csrftoken=([^;]+)/);
    return match ? decodeURIComponent(match[1]) : "";
  }

  // The text for the status pill.
  function label(state, info) {
    if (state === "queued" && info && info.position) return "Waiting in line: number " + info.position;
    return LABELS[state] || state;
  }

  function terminalUrl(info) {
    const scheme = location.protocol === "https:" ? "wss://" : "ws://";
    return scheme + location.host + info.terminal_url;
  }

  // One "get me a sandbox" conversation, polling until it settles.
  function flow(options) {
    const onState = options.onState || function () {};
    const onReady = options.onReady || function () {};
    let timer = null;
    let stopped = false;

    function later(ms) {
      clearTimeout(timer);
      if (!stopped) timer = setTimeout(request, ms);
    }

    function handle(info) {
      clearTimeout(timer);
      if (stopped) return;
      if (info.state === "ready" || info.state === "assigned") {
        onReady(info);
      } else if (info.state === "queued") {
        onState("queued", info.message, info);
        later(POLL_QUEUED_MS);
      } else if (info.state === "starting") {
        onState("starting", info.message, info);
        later(POLL_STARTING_MS);
      } else {
        onState(info.state, info.message, info);
      }
    }

    async function request() {
      try {
        const response = await fetch("/sandbox/start", {
          method: "POST", headers: {"X-CSRFToken": csrfToken()}, credentials: "same-origin",
        });
        handle(await response.json());
      } catch (err) {
        if (stopped) return;
        const message = "Labdeck cannot be reached. Retrying…";
        onState("unavailable", message, {state: "unavailable", message: message, retrying: true});
        later(RETRY_UNREACHABLE_MS);
      }
    }

    async function resume() {
      try {
        const response = await fetch("/sandbox/status", {credentials: "same-origin"});
        const info = await response.json();
        if (info.state === "assigned" || info.state === "starting") handle(info);
      } catch (err) { /* nothing to resume: starting stays possible */ }
    }

    return {
      request: request,
      resume: resume,
      stop: function () { stopped = true; clearTimeout(timer); },
    };
  }

  function start(options) {
    const f = flow(options || {});
    f.request();
    return {stop: f.stop};
  }

  function resume(options) {
    const f = flow(options || {});
    f.resume();
    return {stop: f.stop};
  }

  window.LabdeckSandbox = {
    start: start, resume: resume, label: label, terminalUrl: terminalUrl, LABELS: LABELS,
  };
})();

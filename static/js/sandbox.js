// Getting a sandbox: ask the server for one, follow it while it starts or
// while the learner waits in line, and say when it is ready.
//
//   LabdeckSandbox.start({onState, onReady, course, replace})
//                                              POST /sandbox/start, or the course's
//                                              (its number of machines); replace:
//                                              give up a sandbox of another size
//   LabdeckSandbox.resume({onState, onReady})  GET /sandbox/status: pick up a sandbox
//                                              this session already has, if any
//
// onState(state, message, info) reports "starting", "queued" (info.position),
// "unavailable", "failed" or "other-nodes" (the learner's sandbox has another
// number of machines than the course's: start again with replace to swap it);
// info.retrying is true when the flow retries by itself. onReady(info) gets
// the sandbox (info.terminal_url; info.nodes: each machine's name and terminal_url). Both calls
// return {stop()}, which ends the polling. A ready sandbox is also announced
// as a "labdeck:sandbox" event on document (detail: info), for the scripts
// beside the terminal (previews.js).
//
// Once a sandbox is ready, its idle clock is followed too: shortly before the
// reaper would stop an idle sandbox (warn_before seconds ahead of
// idle_deadline, from /sandbox/status), a banner offers to keep it, which
// POSTs /sandbox/extend.
(function () {
  "use strict";

  const LABELS = {
    idle: "Not started", starting: "Starting your sandbox…", connecting: "Connecting…",
    ready: "Ready", reconnecting: "Reconnecting…", queued: "Waiting in line", "other-nodes": "Another sandbox needed",
    unavailable: "Sandbox host unavailable", failed: "Could not start", exited: "Shell ended",
    closed: "Disconnected", retrying: "Trying again…",
  };
  const POLL_QUEUED_MS = 1000;
  const POLL_STARTING_MS = 150;
  const RETRY_UNREACHABLE_MS = 2000;
  const IDLE_CHECK_MS = 30000;

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

  // ---- the idle warning ----
  const idle = {watching: false, timer: null, banner: null, text: null};

  function inWords(ms) {
    const minutes = Math.floor(ms / 60000);
    if (minutes < 1) return "in less than a minute";
    return "in " + minutes + (minutes === 1 ? " minute" : " minutes");
  }

  function idleBanner() {
    if (idle.banner) return idle.banner;
    const banner = document.createElement("div");
    banner.setAttribute("data-idle-warning", "");
    banner.setAttribute("role", "alert");
    banner.style.cssText = "display: flex; align-items: center; justify-content: center; gap: 12px; " +
      "padding: 8px 16px; font-weight: 600; color: var(--st-reconnecting); background: var(--st-reconnecting-bg)";
    const text = document.createElement("span");
    const keep = document.createElement("button");
    keep.type = "button";
    keep.className = "button";
    keep.setAttribute("data-keep-sandbox", "");
    keep.textContent = "Keep it";
    keep.addEventListener("click", keepSandbox);
    banner.append(text, keep);
    document.body.insertBefore(banner, document.body.firstChild);
    idle.banner = banner;
    idle.text = text;
    return banner;
  }

  // Show or hide the banner from what the server says, and look again when
  // the warning is due (at the latest in IDLE_CHECK_MS: activity in the
  // terminal moves the deadline). kept: the learner just asked to keep it.
  function followIdle(info, kept) {
    clearTimeout(idle.timer);
    if (!info.idle_deadline) {  // the sandbox is gone: nothing left to warn about
      idle.watching = false;
      if (idle.banner) idle.banner.hidden = true;
      return;
    }
    const left = typeof info.idle_in === "number" ? info.idle_in * 1000 : Date.parse(info.idle_deadline) - Date.now();
    const untilWarning = left - info.warn_before * 1000;
    if (untilWarning <= 0 && !kept) {
      idleBanner().hidden = false;
      idle.text.textContent = "Your sandbox has been idle and will be stopped " + inWords(left) + ".";
    } else if (idle.banner) {
      idle.banner.hidden = true;
    }
    idle.timer = setTimeout(checkIdle, untilWarning > 0 ? Math.min(IDLE_CHECK_MS, untilWarning + 100) : IDLE_CHECK_MS);
  }

  async function checkIdle() {
    try {
      const response = await fetch("/sandbox/status", {credentials: "same-origin"});
      followIdle(await response.json(), false);
    } catch (err) {  // Labdeck unreachable for now: ask again later
      clearTimeout(idle.timer);
      idle.timer = setTimeout(checkIdle, IDLE_CHECK_MS);
    }
  }

  async function keepSandbox() {
    try {
      const response = await fetch("/sandbox/extend", {
        method: "POST", headers: {"X-CSRFToken": csrfToken()}, credentials: "same-origin",
      });
      followIdle(await response.json(), true);
    } catch (err) { /* the banner stays: the learner can press Keep it again */ }
  }

  function watchIdle() {
    if (idle.watching) return;
    idle.watching = true;
    checkIdle();
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
        document.dispatchEvent(new CustomEvent("labdeck:sandbox", {detail: info}));
        watchIdle();
      } else if (info.state === "queued") {
        onState("queued", info.message, info);
        later(POLL_QUEUED_MS);
      } else if (info.state === "starting") {
        onState("starting", info.message, info);
        later(POLL_STARTING_MS);
      } else {
        onState(info.state, info.message, info);
        if (info.retrying) later(RETRY_UNREACHABLE_MS);  // an outage of a moment (the database restarting)
      }
    }

    async function request() {
      try {
        // A course asks for its own number of machines (a node set for some).
        const url = options.course ? "/courses/" + encodeURIComponent(options.course) + "/sandbox/start"
                                   : "/sandbox/start";
        const response = await fetch(url, {
          method: "POST", credentials: "same-origin",
          headers: {"X-CSRFToken": csrfToken(), "Content-Type": "application/x-www-form-urlencoded"},
          body: options.replace ? "replace=1" : "",
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
    start: start, resume: resume, label: label, terminalUrl: terminalUrl, LABELS: LABELS, csrfToken: csrfToken,
  };
})();

// The lesson player: slides (or the long self-paced page) on the left, the
// learner's terminal on the right. Both course pages use this file:
//
//   LabdeckPlayer.init({mode: "live"})    one slide at a time (player.html)
//   LabdeckPlayer.init({mode: "steps"})   one long page (steps.html)
//
// It runs by itself on a page with <main id="player" data-mode="...">.
// Pieces, each a small function below: the resizable split and the narrow
// screen tabs, the sandbox and terminal, code buttons, exercise cards,
// quizzes, the progress websocket, and the two ways of showing slides.
(function () {
  "use strict";

  const STORE = {split: "labdeck.player.split", hideExtra: "labdeck.player.hideExtra"};
  const NARROW = window.matchMedia("(max-width: 899.98px)");
  const CHECK_TIMEOUT_MS = 20000;
  const BACKOFF_MIN_MS = 1000;
  const BACKOFF_MAX_MS = 8000;

  // ---------------------------------------------------------------- helpers

  function $(selector, root) { return (root || document).querySelector(selector); }
  function $$(selector, root) { return Array.from((root || document).querySelectorAll(selector)); }

  function load(key) {
    try { return window.localStorage.getItem(key); } catch (err) { return null; }
  }
  function save(key, value) {
    try { window.localStorage.setItem(key, value); } catch (err) { /* private mode: forget it */ }
  }

  // Text with `code` spans, built as DOM nodes (never as HTML).
  function inlineCode(text) {
    const fragment = document.createDocumentFragment();
    String(text).split("`").forEach(function (part, i) {
      if (!part) return;
      if (i % 2) {
        const code = document.createElement("code");
        code.textContent = part;
        fragment.appendChild(code);
      } else {
        fragment.appendChild(document.createTextNode(part));
      }
    });
    return fragment;
  }

  // Is this key press meant for whatever has the focus (terminal, form field)?
  function keyBelongsToFocus(event) {
    const el = document.activeElement;
    if (!el || el === document.body) return false;
    if (el.closest("[data-terminal]")) return true;
    if (el.closest("textarea, select, [contenteditable]:not([contenteditable=false])")) return true;
    if (el.getAttribute("role") === "separator" || el.getAttribute("role") === "tab") return true;
    // A checkbox has no use for arrows; other inputs (text, radio) do.
    if (el.matches("input")) return event.key === " " || el.type !== "checkbox";
    // Space presses a focused button, link or summary.
    return event.key === " " && !!el.closest("button, a[href], summary");
  }

  // Show a short text on a button, then put its label back.
  function flash(button, text) {
    if (!button.dataset.label) button.dataset.label = button.textContent;
    button.textContent = text;
    button.classList.add("flashed");
    clearTimeout(button._flashTimer);
    button._flashTimer = setTimeout(function () {
      button.textContent = button.dataset.label;
      button.classList.remove("flashed");
    }, 1500);
  }

  // ------------------------------------------------- split and narrow tabs

  function initSplit(ctx) {
    const split = $("#split");
    const divider = $("#divider");
    const MIN = 20, MAX = 80, DEFAULT = 55, STEP = 2, BIG_STEP = 10;
    let ratio = Number(load(STORE.split)) || DEFAULT;
    let dragging = false;

    function apply(value, persist) {
      ratio = Math.min(MAX, Math.max(MIN, value));
      split.style.setProperty("--split", ratio.toFixed(1) + "%");
      divider.setAttribute("aria-valuenow", String(Math.round(ratio)));
      divider.setAttribute("aria-valuetext", "Slides " + Math.round(ratio) + "% of the width");
      if (persist) save(STORE.split, ratio.toFixed(1));
    }

    function fromPointer(event) {
      const rect = split.getBoundingClientRect();
      return (event.clientX - rect.left) / rect.width * 100;
    }

    divider.addEventListener("pointerdown", function (event) {
      if (event.button !== 0) return;
      dragging = true;
      divider.setPointerCapture(event.pointerId);
      split.classList.add("resizing");
      event.preventDefault();
    });
    divider.addEventListener("pointermove", function (event) {
      if (dragging) apply(fromPointer(event), false);
    });
    function stop() {
      if (!dragging) return;
      dragging = false;
      split.classList.remove("resizing");
      save(STORE.split, ratio.toFixed(1));
    }
    divider.addEventListener("pointerup", stop);
    divider.addEventListener("pointercancel", stop);
    divider.addEventListener("lostpointercapture", stop);
    divider.addEventListener("dblclick", function () { apply(DEFAULT, true); });

    divider.addEventListener("keydown", function (event) {
      const step = event.shiftKey ? BIG_STEP : STEP;
      const moves = {
        ArrowLeft: ratio - step, ArrowRight: ratio + step, ArrowUp: ratio - step, ArrowDown: ratio + step,
        Home: MIN, End: MAX, Enter: DEFAULT,
      };
      if (!(event.key in moves)) return;
      event.preventDefault();
      apply(moves[event.key], true);
    });

    apply(ratio, false);
  }

  function initTabs(ctx) {
    const tabs = $$("[role=tab]", ctx.root);
    const panes = {slides: $("#slides-pane"), terminal: $("#terminal-pane")};

    function select(name, focus) {
      ctx.root.dataset.activeTab = name;
      tabs.forEach(function (tab) {
        const on = tab.dataset.tab === name;
        tab.setAttribute("aria-selected", on ? "true" : "false");
        tab.tabIndex = on ? 0 : -1;
        if (on && focus) tab.focus();
      });
      if (name === "terminal" && ctx.terminal && NARROW.matches) ctx.terminal.term.focus();
    }

    // Tab roles only mean something while the tabs are shown.
    function applyRoles() {
      Object.keys(panes).forEach(function (name) {
        if (NARROW.matches) {
          panes[name].setAttribute("role", "tabpanel");
          panes[name].setAttribute("aria-labelledby", "tab-" + name);
        } else {
          panes[name].removeAttribute("role");
          panes[name].removeAttribute("aria-labelledby");
        }
      });
    }

    tabs.forEach(function (tab) {
      tab.addEventListener("click", function () { select(tab.dataset.tab, false); });
      tab.addEventListener("keydown", function (event) {
        if (event.key !== "ArrowLeft" && event.key !== "ArrowRight") return;
        event.preventDefault();
        select(ctx.root.dataset.activeTab === "slides" ? "terminal" : "slides", true);
      });
    });
    NARROW.addEventListener("change", applyRoles);
    applyRoles();
    ctx.showTab = select;
  }

  // ------------------------------------------------- sandbox and terminal

  function initSandbox(ctx) {
    const Sandbox = window.LabdeckSandbox;
    const statusEl = $("#status");
    const box = $("#terminal-message");
    const text = $("[data-text]", box);
    const retry = $("#sandbox-retry");
    const WAITING = {starting: true, queued: true};

    function setStatus(state, info) {
      statusEl.dataset.state = state;
      statusEl.textContent = Sandbox.label(state, info);
    }

    function say(message, canRetry) {
      box.hidden = !message;
      text.textContent = message || "";
      retry.hidden = !canRetry;
    }

    function sandboxState(state, message, info) {
      setStatus(state, info);
      replaceButton.hidden = state !== "other-nodes";
      let line = message || Sandbox.label(state, info);
      if (state === "queued") {
        line = "Every sandbox is busy: you are number " + (info.position || "?") +
               " in line. Your terminal opens as soon as one is free.";
      }
      say(line, !WAITING[state] && !info.retrying && state !== "other-nodes");
    }

    function terminalState(state, message) {
      if (state === "watched" || state === "unwatched") {  // for room.js
        document.dispatchEvent(new CustomEvent("labdeck:message", {detail: {type: state, message: message}}));
        return;
      }
      setStatus(state);
      if (state === "ready") {
        say("", false);
        if (ctx.catchUpWhenReady) {  // a new sandbox the learner asked to bring up to date
          ctx.catchUpWhenReady = false;
          document.dispatchEvent(new CustomEvent("labdeck:catchup"));
        }
      } else if (state === "closed" || state === "reconnecting") {
        say(message || "Disconnected.", false);
      }
    }

    // One terminal per machine: a node set gets a tab per node above them.
    function mountTerminal(info) {
      if (ctx.terminal) return;
      say("", false);
      // The terminal takes the focus when it mounts; give it back, so the
      // arrow keys keep turning slides until the learner clicks the terminal.
      const active = document.activeElement;
      const nodes = info.nodes && info.nodes.length > 1 ? info.nodes : [{name: "", terminal_url: info.terminal_url}];
      const host = $("#terminal");
      ctx.shownNode = 1;
      ctx.terminals = nodes.map(function (node, i) {
        const element = nodes.length > 1 ? document.createElement("div") : host;
        if (nodes.length > 1) {
          element.className = "node-terminal";
          element.setAttribute("data-node-terminal", node.name);
          element.hidden = i > 0;
          host.appendChild(element);
        }
        return window.LabdeckTerminal.mount(element, {
          url: Sandbox.terminalUrl(node),
          // Only the shown machine's terminal speaks in the status pill.
          onState: function (state, message) { if (ctx.shownNode === i + 1) terminalState(state, message); },
        });
      });
      ctx.terminal = ctx.terminals[0];
      if (nodes.length > 1) nodeTabs(nodes);
      if (active && active !== document.body && !active.closest("[data-terminal]")) {
        active.focus({preventScroll: true});
      } else {
        ctx.terminal.term.blur();
      }
      ctx.progress.reconnectSoon();
    }

    function nodeTabs(nodes) {
      const bar = document.createElement("div");
      bar.className = "node-tabs";
      bar.setAttribute("role", "tablist");
      bar.setAttribute("aria-label", "Machines");
      nodes.forEach(function (node, i) {
        const tab = document.createElement("button");
        tab.type = "button";
        tab.setAttribute("role", "tab");
        tab.setAttribute("data-node-tab", node.name);
        tab.setAttribute("aria-selected", i === 0 ? "true" : "false");
        tab.textContent = node.name;
        tab.addEventListener("click", function () { ctx.showNode(i + 1); });
        bar.appendChild(tab);
      });
      $("#terminal").before(bar);
      ctx.nodeBar = bar;
    }

    // Show machine `node` (1, 2, ...) and make its terminal the one that
    // Run buttons type into.
    ctx.showNode = function (node) {
      if (!ctx.terminals || !ctx.terminals[node - 1]) return;
      ctx.terminal = ctx.terminals[node - 1];
      ctx.shownNode = node;
      $$("[data-node-terminal]").forEach(function (el, i) { el.hidden = i !== node - 1; });
      if (ctx.nodeBar) {
        $$("[data-node-tab]", ctx.nodeBar).forEach(function (tab, i) {
          tab.setAttribute("aria-selected", i === node - 1 ? "true" : "false");
        });
      }
      ctx.terminal.term.focus();
    };

    // A new sandbox (the instructor reset it, or it was reaped): start over.
    ctx.restartSandbox = function (options) {
      ctx.catchUpWhenReady = Boolean(options && options.catchUp);
      (ctx.terminals || []).forEach(function (t) { t.dispose(); });
      $$("[data-node-terminal]").forEach(function (el) { el.remove(); });
      if (ctx.nodeBar) ctx.nodeBar.remove();
      ctx.terminal = ctx.terminals = ctx.nodeBar = null;
      begin();
    };

    function begin(replace) {
      say("Getting your sandbox…", false);
      setStatus("starting");
      replaceButton.hidden = true;
      Sandbox.start({onState: sandboxState, onReady: mountTerminal, course: ctx.root.dataset.course,
                     replace: replace === true});
    }

    // The learner's sandbox has another number of machines than this
    // course's: swapping it is their choice, since its files go with it.
    const replaceButton = document.createElement("button");
    replaceButton.type = "button";
    replaceButton.className = "button";
    replaceButton.id = "sandbox-replace";
    replaceButton.textContent = "Start a new sandbox";
    replaceButton.hidden = true;
    replaceButton.addEventListener("click", function () { begin(true); });
    retry.after(replaceButton);

    retry.addEventListener("click", function () { begin(false); });
    begin(false);
  }

  // ------------------------------------------------------------ code blocks

  function codeOf(block) {
    const code = $("pre code", block) || $("pre", block);
    return code ? code.textContent.replace(/\n+$/, "") : "";
  }

  function runCode(ctx, button, code, interruptFirst) {
    if (!ctx.terminal) {
      flash(button, "Terminal not ready");
      return;
    }
    // In a node set, a block runs in its machine's tab: the one it names
    // ("bash run node2"), else node1's.
    const node = ((button.closest(".code-block").dataset.flags || "").match(/\bnode(\d+)\b/) || [])[1];
    if (ctx.terminals && ctx.terminals.length > 1) ctx.showNode(Number(node || 1));
    if (NARROW.matches) ctx.showTab("terminal", false);
    if (interruptFirst) {
      ctx.terminal.interrupt();
      setTimeout(function () { ctx.terminal.run(code); }, 150);
    } else {
      ctx.terminal.run(code);
    }
  }

  function copyText(text) {
    if (navigator.clipboard && window.isSecureContext) return navigator.clipboard.writeText(text);
    // Plain http on another host has no clipboard API: the old way.
    return new Promise(function (resolve, reject) {
      const area = document.createElement("textarea");
      area.value = text;
      area.setAttribute("readonly", "");
      area.style.position = "fixed";
      area.style.opacity = "0";
      document.body.appendChild(area);
      area.select();
      const ok = document.execCommand("copy");
      area.remove();
      if (ok) resolve(); else reject(new Error("copy refused"));
    });
  }

  // Gather a block's buttons in one toolbar, shown at its top right.
  function groupCodeButtons(block) {
    const buttons = $$(":scope > .code-action", block);
    if (!buttons.length) return;
    const bar = document.createElement("div");
    bar.className = "code-actions";
    buttons.forEach(function (button) { bar.appendChild(button); });
    block.insertBefore(bar, block.firstChild);
  }

  function initCodeActions(ctx) {
    $$(".code-block", ctx.root).forEach(groupCodeButtons);
    ctx.root.addEventListener("click", function (event) {
      const button = event.target.closest(".code-action");
      if (!button) return;
      const code = codeOf(button.closest(".code-block"));
      const action = button.dataset.action;
      if (action === "run") runCode(ctx, button, code, false);
      else if (action === "interrupt") runCode(ctx, button, code, true);
      else if (action === "copy") {
        copyText(code).then(function () { flash(button, "Copied"); },
                            function () { flash(button, "Copy failed"); });
      }
    });
  }

  // ---------------------------------------------------------- exercise cards

  function hintButtonText(left) {
    return "Show another hint (" + left + " left)";
  }

  // Reveal hints until `count` are shown (a reload shows the ones seen before).
  function showHints(card, count) {
    const hints = $$("[data-hints] li", card);
    hints.forEach(function (li, i) { if (i < count) li.hidden = false; });
    const left = hints.filter(function (li) { return li.hidden; }).length;
    const button = $("[data-hint-next]", card);
    if (button && count > 0) {
      button.textContent = hintButtonText(left);
      button.hidden = left === 0;
    }
  }

  function revealHint(ctx, button) {
    const card = button.closest("[data-exercise]");
    const hidden = $$("[data-hints] li[hidden]", card);
    if (!hidden.length) return;
    hidden[0].hidden = false;
    const left = hidden.length - 1;
    button.textContent = hintButtonText(left);
    if (left === 0) {
      // The button goes away: move the focus to what it revealed.
      hidden[0].tabIndex = -1;
      hidden[0].focus();
      button.hidden = true;
    }
    ctx.progress.send({type: "hint", exercise: card.dataset.exercise});
  }

  function initExercises(ctx) {
    ctx.root.addEventListener("click", function (event) {
      const hint = event.target.closest("[data-hint-next]");
      if (hint) revealHint(ctx, hint);
      const check = event.target.closest("[data-check]");
      if (check) ctx.progress.check(check.closest("[data-exercise]").dataset.exercise);
    });
    $$("[data-exercise]", ctx.root).forEach(function (card) {
      const title = $("h3", card);
      if (title && !$(".exercise-state", title)) {
        const state = document.createElement("span");
        state.className = "exercise-state visually-hidden";
        state.textContent = " (not done yet)";
        title.appendChild(state);
      }
    });
  }

  // ----------------------------------------------------------------- quizzes

  function answerOf(input) {
    const label = input.closest("label") || input.parentElement;
    const why = label.nextElementSibling && label.nextElementSibling.matches(".why")
      ? label.nextElementSibling : null;
    return {input: input, label: label, why: why, correct: input.dataset.correct === "true"};
  }

  function gradeQuiz(form) {
    const answers = $$("input[data-correct]", form).map(answerOf);
    const result = $(".quiz-result", form);
    const chosen = answers.filter(function (a) { return a.input.checked; });
    result.classList.remove("right", "wrong");
    if (!chosen.length) {
      result.textContent = "Choose an answer first.";
      return;
    }
    let wrong = 0, missed = 0;
    answers.forEach(function (a) {
      const picked = a.input.checked;
      delete a.label.dataset.result;
      if (picked) a.label.dataset.result = a.correct ? "right" : "wrong";
      else if (a.correct) a.label.dataset.result = "missed";
      if (picked && !a.correct) wrong += 1;
      if (!picked && a.correct) missed += 1;
      if (a.why) a.why.hidden = !(picked || a.correct);
    });
    const right = wrong === 0 && missed === 0;
    result.classList.add(right ? "right" : "wrong");
    result.textContent = right ? "Right!" : "Not quite: " + quizAdvice(form, wrong, missed);
  }

  function quizAdvice(form, wrong, missed) {
    if (form.dataset.multiple !== "true") return "the right answer is marked; read why below.";
    const parts = [];
    if (wrong) parts.push(wrong + (wrong === 1 ? " wrong answer" : " wrong answers") + " picked");
    if (missed) parts.push(missed + (missed === 1 ? " right answer" : " right answers") + " missed");
    return parts.join(", ") + ". The explanations are below each answer.";
  }

  function initQuizzes(ctx) {
    ctx.root.addEventListener("submit", function (event) {
      const form = event.target.closest("[data-quiz]");
      if (!form) return;
      event.preventDefault();
      gradeQuiz(form);
    });
  }

  // ------------------------------------------------------- progress socket

  function Progress(ctx) {
    const known = {};          // exercise id -> {status, missing}
    const checking = {};       // exercise id -> timeout of its "Checking…"
    const celebrated = {};     // ids that turned passed while this page was open
    let baseline = true;       // the first message tells the state we start from
    let ws = null;
    let backoff = BACKOFF_MIN_MS;
    let timer = null;
    let outbox = [];
    let currentSlide = null;

    function url() {
      const scheme = location.protocol === "https:" ? "wss://" : "ws://";
      return scheme + location.host + "/ws/progress/" + encodeURIComponent(ctx.slug) + "/";
    }

    function connect() {
      clearTimeout(timer);
      const sock = new WebSocket(url());
      ws = sock;
      sock.onopen = function () {
        if (sock !== ws) return;
        backoff = BACKOFF_MIN_MS;
        if (currentSlide) sock.send(JSON.stringify({type: "slide", number: currentSlide}));
        const pending = outbox;
        outbox = [];
        pending.forEach(function (msg) { sock.send(JSON.stringify(msg)); });
      };
      sock.onmessage = function (event) { if (sock === ws) receive(event.data); };
      sock.onclose = function (event) {
        if (sock !== ws) return;
        ws = null;
        if (event.code === 4403) return;  // removed from the workshop: stay away
        timer = setTimeout(connect, backoff + Math.random() * 250);
        backoff = Math.min(backoff * 2, BACKOFF_MAX_MS);
      };
    }

    // The sandbox just came up: a socket waiting to retry tries now.
    function reconnectSoon() {
      if (ws) return;
      backoff = BACKOFF_MIN_MS;
      connect();
    }

    function send(msg) {
      if (ws && ws.readyState === WebSocket.OPEN) {
        ws.send(JSON.stringify(msg));
      } else if (msg.type !== "slide") {  // the slide is sent on open anyway
        outbox.push(msg);
        if (outbox.length > 50) outbox.shift();
      }
    }

    function slide(number) {
      if (number === currentSlide) return;
      currentSlide = number;
      send({type: "slide", number: number});
    }

    function receive(data) {
      let msg;
      try { msg = JSON.parse(data); } catch (err) { return; }
      if (msg && msg.type !== "progress") {
        // Classroom and catch-up messages: for the scripts that handle them.
        document.dispatchEvent(new CustomEvent("labdeck:message", {detail: msg}));
        return;
      }
      if (!msg || typeof msg.exercises !== "object") return;
      const exercises = msg.exercises || {};
      Object.keys(exercises).forEach(function (id) { update(id, exercises[id] || {}); });
      Object.keys(checking).forEach(function (id) { endCheck(id); });  // answered, changed or not
      baseline = false;
      counts();
    }

    function update(id, info) {
      const before = known[id];
      const status = info.status || "pending";
      known[id] = {status: status, missing: Array.isArray(info.missing) ? info.missing : []};
      if (typeof info.hints_used === "number") {  // not in the contract, but restores hints on reload
        cards(id).forEach(function (card) { showHints(card, info.hints_used); });
      }
      const turnedPassed = status === "passed" && !baseline && !celebrated[id] &&
                           (!before || before.status !== "passed");
      if (status === "passed") celebrated[id] = true;
      endCheck(id);
      cards(id).forEach(function (card) {
        render(card, known[id]);
        if (turnedPassed) celebrate(card);
      });
    }

    function cards(id) {
      return $$('[data-exercise="' + CSS.escape(id) + '"]', ctx.root);
    }

    function render(card, info) {
      card.dataset.status = info.status;
      const state = $(".exercise-state", card);
      if (state) {
        state.textContent = {passed: " (done)", failed: " (not done yet)", pending: " (not done yet)"}[info.status] || "";
      }
      const result = $(".check-result", card);
      if (!result) return;
      result.textContent = "";
      if (info.status === "passed") {
        result.textContent = "Done!";
      } else if (info.status === "failed") {
        if (!info.missing.length) { result.textContent = "Not yet."; return; }
        const list = document.createElement("ul");
        list.className = "missing";
        info.missing.forEach(function (message) {
          const item = document.createElement("li");
          item.appendChild(inlineCode(message));
          list.appendChild(item);
        });
        result.appendChild(list);
      }
    }

    function celebrate(card) {
      card.classList.remove("just-passed");
      void card.offsetWidth;  // restart the animation if it ran before
      card.classList.add("just-passed");
      setTimeout(function () { card.classList.remove("just-passed"); }, 2500);
    }

    function check(id) {
      clearTimeout(checking[id]);
      checking[id] = setTimeout(function () { checkTimedOut(id); }, CHECK_TIMEOUT_MS);
      cards(id).forEach(function (card) {
        const result = $(".check-result", card);
        if (result) result.textContent = "Checking…";
        card.setAttribute("aria-busy", "true");
      });
      send({type: "check", exercise: id});
    }

    function endCheck(id) {
      if (!(id in checking)) return;
      clearTimeout(checking[id]);
      delete checking[id];
      cards(id).forEach(function (card) {
        card.removeAttribute("aria-busy");
        render(card, known[id] || {status: card.dataset.status || "pending", missing: []});
      });
    }

    function checkTimedOut(id) {
      endCheck(id);
      cards(id).forEach(function (card) {
        const result = $(".check-result", card);
        if (result) result.textContent = "The checker did not answer. Try again in a moment.";
      });
    }

    function counts() {
      const passed = function (id) { return known[id] && known[id].status === "passed"; };
      $$("[data-toc-exercises]", ctx.root).forEach(function (el) {
        const ids = el.dataset.tocExercises.split(" ").filter(Boolean);
        const done = ids.filter(passed).length;
        el.textContent = done + "/" + ids.length;
        el.classList.toggle("complete", done === ids.length);
      });
      const done = $("[data-done]", ctx.root);
      if (done) done.textContent = String(Object.keys(known).filter(passed).length);
    }

    connect();
    return {send: send, check: check, slide: slide, reconnectSoon: reconnectSoon};
  }

  // ------------------------------------------------------- table of contents

  function initToc(ctx) {
    const toc = $("#toc");
    if (!toc) return;
    toc.addEventListener("click", function (event) {
      if (event.target.closest("a[data-toc-link]")) toc.open = false;
    });
    document.addEventListener("keydown", function (event) {
      if (event.key === "Escape" && toc.open) {
        toc.open = false;
        $("summary", toc).focus();
      }
    });
    document.addEventListener("click", function (event) {
      if (toc.open && !toc.contains(event.target)) toc.open = false;
    });
  }

  function markTocSection(ctx, number) {
    let current = null;
    $$("a[data-toc-link]", ctx.root).forEach(function (link) {
      if (Number(link.dataset.tocLink) <= number) current = link;
      link.removeAttribute("aria-current");
    });
    if (current) current.setAttribute("aria-current", "location");
  }

  function hashNumber() {
    const match = location.hash.match(/^#(\d+)$/);
    return match ? Number(match[1]) : null;
  }

  function linkOtherView(ctx, number) {
    const link = $("#view-switch");
    if (link) link.href = link.dataset.base + "#" + number;
  }

  // ------------------------------------------------- the deck: one at a time

  function initDeck(ctx) {
    const slides = $$(".slide[data-slide]", ctx.root);
    const container = $("#slides");
    const position = $("[data-position]", ctx.root);
    const bar = $("#slide-progress");
    const prev = $("#prev");
    const next = $("#next");
    const hideExtra = $("#hide-extra");
    let index = 0;

    function skipped(slide) {
      return hideExtra.checked && (slide.dataset.kinds || "").split(" ").indexOf("extra-details") >= 0;
    }

    function neighbour(from, direction) {
      for (let i = from + direction; i >= 0 && i < slides.length; i += direction) {
        if (!skipped(slides[i])) return i;
      }
      return -1;
    }

    function show(i) {
      if (i < 0 || i >= slides.length) return;
      index = i;
      slides.forEach(function (slide, j) {
        const on = j === i;
        slide.hidden = !on;
        slide.classList.toggle("current", on);
        if (on) slide.setAttribute("aria-current", "step");
        else slide.removeAttribute("aria-current");
      });
      const number = Number(slides[i].dataset.slide);
      position.textContent = String(i + 1);
      bar.style.width = ((i + 1) / slides.length * 100) + "%";
      prev.disabled = neighbour(i, -1) < 0;
      next.disabled = neighbour(i, 1) < 0;
      container.scrollTop = 0;
      if (hashNumber() !== number) history.replaceState(null, "", "#" + number);
      markTocSection(ctx, number);
      linkOtherView(ctx, number);
      ctx.progress.slide(number);
    }

    function go(direction) {
      const i = neighbour(index, direction);
      if (i >= 0) show(i);
    }

    function showHash() {
      const number = hashNumber();
      if (number === null) return false;
      const i = slides.findIndex(function (s) { return Number(s.dataset.slide) === number; });
      if (i < 0) return false;
      show(i);
      return true;
    }

    prev.addEventListener("click", function () { go(-1); });
    next.addEventListener("click", function () { go(1); });
    document.addEventListener("keydown", function (event) {
      if (event.defaultPrevented || event.altKey || event.ctrlKey || event.metaKey) return;
      if (keyBelongsToFocus(event)) return;
      let direction = 0;
      if (event.key === "ArrowRight") direction = 1;
      else if (event.key === "ArrowLeft") direction = -1;
      else if (event.key === " ") direction = event.shiftKey ? -1 : 1;
      if (!direction) return;
      event.preventDefault();
      go(direction);
    });
    window.addEventListener("hashchange", function () {
      if (showHash()) container.focus({preventScroll: true});
    });

    hideExtra.checked = load(STORE.hideExtra) === "1";
    hideExtra.addEventListener("change", function () {
      save(STORE.hideExtra, hideExtra.checked ? "1" : "0");
      show(index);  // the current slide stays; Prev and Next skip what is hidden
    });

    if (slides.length && !showHash()) show(0);
  }

  // ------------------------------------------------ the steps: one long page

  function initSteps(ctx) {
    const steps = $$("[data-slide]", ctx.root);
    const container = $("#slides");
    const bar = $("#slide-progress");
    let current = null;
    let reportTimer = null;

    function stepOf(number) {
      return steps.find(function (s) { return Number(s.dataset.slide) === number; });
    }

    function goToHash() {
      const number = hashNumber();
      const step = number === null ? null : stepOf(number);
      if (!step) return false;
      if (step.tagName === "DETAILS") step.open = true;
      step.scrollIntoView({block: "start"});
      setCurrent(number);
      return true;
    }

    function setCurrent(number) {
      if (number === current) return;
      current = number;
      steps.forEach(function (s) {
        if (Number(s.dataset.slide) === number) s.setAttribute("aria-current", "step");
        else s.removeAttribute("aria-current");
      });
      if (hashNumber() !== number) history.replaceState(null, "", "#" + number);
      markTocSection(ctx, number);
      linkOtherView(ctx, number);
      clearTimeout(reportTimer);
      reportTimer = setTimeout(function () { ctx.progress.slide(number); }, 400);
    }

    // The current step is the last one whose top has reached the top of the pane.
    function onScroll() {
      const top = container.getBoundingClientRect().top + 48;
      let found = steps[0];
      for (const step of steps) {
        if (step.getBoundingClientRect().top <= top) found = step; else break;
      }
      const max = container.scrollHeight - container.clientHeight;
      bar.style.width = (max > 0 ? container.scrollTop / max * 100 : 100) + "%";
      if (found) setCurrent(Number(found.dataset.slide));
    }

    let scheduled = false;
    container.addEventListener("scroll", function () {
      if (scheduled) return;
      scheduled = true;
      requestAnimationFrame(function () { scheduled = false; onScroll(); });
    });
    window.addEventListener("hashchange", goToHash);
    if (!goToHash()) onScroll();
  }

  // ------------------------------------------------------------------- init

  let started = false;
  let current = null;

  function init(options) {
    const root = document.getElementById("player");
    if (!root || started) return;
    started = true;
    const ctx = {
      root: root,
      mode: (options && options.mode) || root.dataset.mode || "live",
      slug: root.dataset.course,
      terminal: null,
      showTab: function () {},
    };
    current = ctx;
    ctx.progress = Progress(ctx);
    initSplit(ctx);
    initTabs(ctx);
    initToc(ctx);
    initCodeActions(ctx);
    initExercises(ctx);
    initQuizzes(ctx);
    if (ctx.mode === "steps") initSteps(ctx); else initDeck(ctx);
    initSandbox(ctx);
  }

  // For the scripts beside the player (classroom, catch-up): they listen to
  // "labdeck:message" events on document and talk back through these.
  window.LabdeckPlayer = {
    init: init,
    send: function (msg) { if (current) current.progress.send(msg); },
    slide: function () { return Number((location.hash || "#0").slice(1)) || null; },
    goTo: function (number) { location.hash = "#" + number; },
    restartSandbox: function (options) { if (current && current.restartSandbox) current.restartSandbox(options); },
    terminal: function () { return current ? current.terminal : null; },
  };
  const page = document.getElementById("player");
  if (page) init({mode: page.dataset.mode});
})();

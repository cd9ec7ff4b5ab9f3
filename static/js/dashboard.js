// The instructor's live dashboard of a workshop (templates/workshops/dashboard.html).
//
// One websocket (data-ws-url) brings a snapshot, then batched updates:
//
//   snapshot   build the whole grid, once (the only full render)
//   updates    queued, then applied in one animation frame to the cells they
//              concern, through a Map "learnerId:exerciseId" -> <td>
//   commands   a learner's recent commands, asked for when their details open
//   notice, error
//
// and sends the instructor's actions (broadcast, lead, reset, extend, remove,
// end, warmup, commands). Pieces, each a small section below: helpers, state,
// deriving a cell's status and who is stuck, building the grid, applying
// updates, the side panels (pace, warm-up, room tools), the learner's details,
// the read-only watch terminal, and the socket.
(function () {
  "use strict";

  const root = document.querySelector("[data-dashboard]");
  if (!root) return;

  const BACKOFF_MIN_MS = 250;
  const BACKOFF_MAX_MS = 5000;
  const TICK_MS = 10000;            // "3 min ago" and who is stuck
  const FLUSH_FALLBACK_MS = 250;    // rAF does not run in a hidden tab
  const MAX_COMMANDS = 20;
  const STUCK_NAMES_SHOWN = 8;
  const CLOSE_MESSAGES = {
    4403: "You are not allowed to run this workshop's dashboard.",
    4404: "There is no such workshop.",
  };
  const SYMBOL = {passed: "✓", failed: "!", "in-progress": "…", pending: ""};
  const STATUS_TEXT = {passed: "passed", "in-progress": "in progress", pending: "not started"};
  const CONN_LABEL = {connecting: "Connecting…", ready: "Live", reconnecting: "Reconnecting…", closed: "Disconnected"};

  const config = {
    code: root.dataset.code,
    wsUrl: root.dataset.wsUrl,
    stuckAfter: Number(root.dataset.stuckAfter) || 600,
    slideCount: Number(root.dataset.slideCount) || 0,
  };

  // ---------------------------------------------------------------- helpers

  function $(selector, scope) { return (scope || root).querySelector(selector); }

  function el(tag, attrs, text) {
    const node = document.createElement(tag);
    if (attrs) for (const name in attrs) node.setAttribute(name, attrs[name]);
    if (text !== undefined && text !== null) node.textContent = text;
    return node;
  }

  function stamp() { return String(performance.timeOrigin + performance.now()); }

  function wsAddress(path) {
    if (/^wss?:\/\//.test(path)) return path;
    return (location.protocol === "https:" ? "wss://" : "ws://") + location.host + path;
  }

  // The server's clock, from the snapshot's "now": ages and "stuck" do not
  // depend on the instructor's laptop being on time.
  let clockOffset = 0;
  function now() { return Date.now() + clockOffset; }
  function parseTime(iso) { const t = iso ? Date.parse(iso) : NaN; return isNaN(t) ? null : t; }

  function ago(ms) {
    const s = Math.max(0, Math.round(ms / 1000));
    if (s < 10) return "just now";
    if (s < 60) return s + " s ago";
    const m = Math.floor(s / 60);
    if (m < 60) return m + " min ago";
    const h = Math.floor(m / 60);
    return h + " h " + (m % 60) + " min ago";
  }
  function until(ms) {
    const m = Math.round(ms / 60000);
    if (m <= 0) return "now";
    if (m < 60) return "in " + m + " min";
    return "in " + Math.floor(m / 60) + " h " + (m % 60) + " min";
  }
  function clock(t) {
    return new Date(t).toLocaleTimeString([], {hour: "2-digit", minute: "2-digit", second: "2-digit"});
  }
  function hoursMinutes(t) {
    return new Date(t).toLocaleTimeString([], {hour: "2-digit", minute: "2-digit"});
  }
  function timeEl(iso, text) { return el("time", {datetime: iso || ""}, text); }

  const noticeEl = $("[data-notice]");
  let lastErrorAt = 0;
  function notice(message, kind) {
    noticeEl.textContent = message;
    noticeEl.dataset.kind = kind || "info";
    if (kind === "error") lastErrorAt = Date.now();
  }

  // The top bar's status pill (base.html) tells the state of the socket.
  const pill = document.getElementById("status");
  function connectionState(state) {
    if (!pill) return;
    pill.dataset.state = state;
    pill.textContent = CONN_LABEL[state] || state;
  }

  // ------------------------------------------------------------------ state

  let workshop = {code: config.code, open: true, ended: false, lead_slide: null, stuck_after: config.stuckAfter};
  let exercises = [];                // E, in course order, each with .index and .sec
  let sections = [];                 // {id, title, first, last, exercises: [E]}
  const exerciseById = new Map();
  const learners = new Map();        // String(id) -> record (see buildRow)
  const cells = new Map();           // "learnerId:exerciseId" -> <td>
  const passCounts = new Map();      // exercise id -> learners who passed it
  const passCountEls = new Map();    // exercise id -> <td data-pass-count>
  let tbody = null;
  let haveSnapshot = false;

  function learner(id) { return id === undefined || id === null ? undefined : learners.get(String(id)); }

  // ----------------------------------------- a cell's status, who is stuck

  function sectionOf(slide) {
    if (slide === null || slide === undefined) return null;
    for (const section of sections) {
      if (section.first <= slide && slide <= section.last) return section;
    }
    return null;
  }

  // in-progress: not passed, but failed once, or hints used, or in the
  // section the learner is on now.
  function cellStatus(rec, ex) {
    const raw = rec.data.exercises[ex.id] || "pending";
    if (raw === "passed") return "passed";
    if (raw === "failed" || (rec.data.hints[ex.id] || 0) > 0 || rec.section === ex.sec) return "in-progress";
    return "pending";
  }

  function cellTitle(rec, ex, status) {
    const raw = rec.data.exercises[ex.id] || "pending";
    let text = rec.data.name + " · " + ex.id + " (" + ex.title + "): " + STATUS_TEXT[status];
    if (raw === "failed") text += ", last check failed";
    const hints = rec.data.hints[ex.id] || 0;
    if (hints) text += ", " + hints + (hints === 1 ? " hint" : " hints");
    if (rec.stuckOn === ex) text += " · stuck here";
    return text;
  }

  // Sets the cell from the learner's data; returns whether anything changed.
  function paintCell(rec, ex, when, cell) {
    const td = cell || rec.cells[ex.index];
    const status = cellStatus(rec, ex);
    const failed = status === "in-progress" && rec.data.exercises[ex.id] === "failed";
    const key = status + (failed ? "!" : "") + (rec.data.hints[ex.id] || 0) + (rec.stuckOn === ex ? "s" : "");
    if (rec.keys[ex.index] === key) return false;
    const before = rec.keys[ex.index];
    rec.keys[ex.index] = key;
    if (td.getAttribute("data-status") !== status || (before && before.charAt(status.length) === "!") !== failed) {
      td.setAttribute("data-status", status);
      td.setAttribute("data-updated-at", when || stamp());
    }
    if (failed) td.setAttribute("data-failed", "true"); else td.removeAttribute("data-failed");
    if (rec.stuckOn === ex) td.setAttribute("data-stuck-here", "true"); else td.removeAttribute("data-stuck-here");
    td.textContent = SYMBOL[failed ? "failed" : status];
    td.title = cellTitle(rec, ex, status);
    return true;
  }

  function paintCells(rec, when) {
    for (const ex of exercises) paintCell(rec, ex, when);
  }

  // Stuck: the first not-passed exercise of the section the learner is on
  // has not changed for more than stuck_after seconds since their last
  // progress (or since they joined).
  function computeStuck(rec, t) {
    let on = null;
    if (rec.section) {
      on = rec.section.exercises.find(function (ex) { return rec.data.exercises[ex.id] !== "passed"; }) || null;
    }
    const since = parseTime(rec.data.last_progress) || parseTime(rec.data.joined_at);
    const stuck = !!on && since !== null && t - since > workshop.stuck_after * 1000;
    const stuckOn = stuck ? on : null;
    if (stuckOn === rec.stuckOn) return false;
    const previous = rec.stuckOn;
    rec.stuckOn = stuckOn;
    rec.row.setAttribute("data-stuck", stuck ? "true" : "false");
    if (stuck) rec.agoCell.appendChild(rec.stuckTag); else rec.stuckTag.remove();
    if (previous) paintCell(rec, previous);
    if (stuckOn) paintCell(rec, stuckOn);
    return true;
  }

  // -------------------------------------------------------- building the grid

  const table = $("[data-grid]");
  const caption = table.querySelector("caption");
  const emptyEl = $("[data-grid-empty]");

  function setExercises(list) {
    const byId = new Map();
    sections = [];
    exerciseById.clear();
    exercises = list.map(function (e, index) {
      let section = byId.get(e.section);
      if (!section) {
        section = {id: e.section, title: e.section_title || e.section, first: e.first_slide, last: e.last_slide, exercises: []};
        byId.set(e.section, section);
        sections.push(section);
      }
      section.first = Math.min(section.first, e.first_slide);
      section.last = Math.max(section.last, e.last_slide);
      const ex = {id: e.id, title: e.title || e.id, index: index, sec: section, first: false};
      section.exercises.push(ex);
      exerciseById.set(ex.id, ex);
      return ex;
    });
    // columns are grouped by section: keep each section's exercises together
    exercises = [];
    sections.forEach(function (section) {
      section.exercises.forEach(function (ex, i) { ex.first = i === 0; ex.index = exercises.length; exercises.push(ex); });
    });
  }

  function buildHead() {
    const fragment = document.createDocumentFragment();
    const learnerCols = el("colgroup", {class: "learner-cols"});
    learnerCols.append(el("col", {class: "c-name"}), el("col", {class: "c-slide"}), el("col", {class: "c-ago"}));
    fragment.appendChild(learnerCols);
    sections.forEach(function (section, i) {
      const group = el("colgroup", {class: "sec " + (i % 2 ? "sec-even" : "sec-odd")});
      section.exercises.forEach(function () { group.appendChild(el("col", {class: "c-ex"})); });
      fragment.appendChild(group);
    });
    table.style.setProperty("--ex-count", exercises.length);

    const thead = el("thead");
    const rowSections = el("tr", {class: "head-sections"});
    rowSections.append(el("td", {class: "c-name"}), el("td", {colspan: "2"}));
    sections.forEach(function (section) {
      const th = el("th", {scope: "colgroup", colspan: section.exercises.length, title: section.title,
                           class: "sec-head", "data-section": section.id});
      th.style.setProperty("--n", section.exercises.length);
      th.appendChild(el("span", null, section.title));
      rowSections.appendChild(th);
    });

    const rowIds = el("tr", {class: "head-ids"});
    rowIds.append(el("th", {scope: "col", class: "c-name"}, "Learner"),
                  el("th", {scope: "col", class: "c-slide"}, "Slide"),
                  el("th", {scope: "col", class: "c-ago"}, "Last progress"));
    exercises.forEach(function (ex) {
      const th = el("th", {scope: "col", class: "ex-head" + (ex.first ? " sec-start" : ""), title: ex.title,
                           "data-exercise-head": ex.id});
      th.appendChild(el("span", null, ex.id));
      rowIds.appendChild(th);
    });

    const rowPassed = el("tr", {class: "head-passed"});
    rowPassed.append(el("th", {scope: "row", class: "c-name"}, "Passed"), el("td", {colspan: "2"}));
    passCountEls.clear();
    exercises.forEach(function (ex) {
      const td = el("td", {"data-pass-count": ex.id, class: ex.first ? "sec-start" : ""}, "0");
      passCountEls.set(ex.id, td);
      rowPassed.appendChild(td);
    });

    thead.append(rowSections, rowIds, rowPassed);
    fragment.appendChild(thead);
    return fragment;
  }

  function normaliseLearner(l) {
    l.exercises = l.exercises || {};
    l.hints = l.hints || {};
    l.sandbox = l.sandbox || {state: "none", expires_at: null};
    l.commands = sortCommands(l.commands || []);
    if (l.slide === undefined) l.slide = null;
    return l;
  }

  function sortCommands(list) {
    return list.slice().sort(function (a, b) { return (parseTime(b.at) || 0) - (parseTime(a.at) || 0); })
      .slice(0, MAX_COMMANDS);
  }

  const cellProto = document.createElement("td");

  // One learner's row; records the cells in `cells` and counts their passes.
  function buildRow(data, when) {
    const l = normaliseLearner(data);
    const id = l.id;
    const row = el("tr", {"data-learner-row": id, "data-connected": l.connected ? "true" : "false",
                          "data-stuck": "false", "data-sandbox": l.sandbox.state});
    const nameCell = el("th", {scope: "row", class: "c-name"});
    const dot = el("span", {class: "dot", "aria-hidden": "true"});
    const presence = el("span", {class: "visually-hidden"}, l.connected ? "online, " : "offline, ");
    const nameButton = el("button", {type: "button", class: "name-button", "data-open-learner": id, "data-learner-name": "",
                                     "aria-controls": "learner-detail", "aria-expanded": "false"}, l.name);
    nameCell.append(dot, presence, nameButton);
    if (l.sandbox.state === "stopped") {  // it stopped without being asked to: say why at a glance
      nameCell.appendChild(el("span", {class: "lost-tag", "data-sandbox-stopped": "", title: l.sandbox.reason || ""},
                              "sandbox stopped"));
    }
    const slideCell = el("td", {class: "c-slide"}, l.slide === null ? "–" : String(l.slide));
    const agoCell = el("td", {class: "c-ago"});
    const agoTime = timeEl(l.last_progress || "", "");
    agoCell.appendChild(agoTime);
    row.append(nameCell, slideCell, agoCell);

    const rec = {id: id, key: String(id), data: l, row: row, nameButton: nameButton, presence: presence, slideCell: slideCell,
                 agoCell: agoCell, agoTime: agoTime, agoText: "", stuckTag: el("span", {class: "stuck-tag"}, "stuck"),
                 cells: new Array(exercises.length), keys: new Array(exercises.length),
                 section: sectionOf(l.slide), stuckOn: null};
    for (const ex of exercises) {
      const td = cellProto.cloneNode(false);
      td.setAttribute("data-learner", id);
      td.setAttribute("data-exercise", ex.id);
      if (ex.first) td.className = "sec-start";
      rec.cells[ex.index] = td;
      cells.set(id + ":" + ex.id, td);
      row.appendChild(td);
      if (l.exercises[ex.id] === "passed") passCounts.set(ex.id, (passCounts.get(ex.id) || 0) + 1);
    }
    paintCells(rec, when);
    paintAgo(rec, now());
    learners.set(rec.key, rec);
    if (rec.key === detailKey) nameButton.setAttribute("aria-expanded", "true");
    applyFilter(rec);
    return rec;
  }

  function forgetRow(rec) {
    for (const ex of exercises) {
      cells.delete(rec.id + ":" + ex.id);
      if (rec.data.exercises[ex.id] === "passed") passCounts.set(ex.id, Math.max(0, (passCounts.get(ex.id) || 0) - 1));
    }
    learners.delete(rec.key);
  }

  function renderSnapshot(message) {
    queue.length = 0;
    clockOffset = message.now ? (parseTime(message.now) || Date.now()) - Date.now() : 0;
    learners.clear();
    cells.clear();
    passCounts.clear();
    setExercises(message.exercises || []);
    if (message.workshop) Object.assign(workshop, message.workshop);

    const when = stamp();
    const fragment = buildHead();
    tbody = el("tbody");
    (message.learners || []).forEach(function (l) { tbody.appendChild(buildRow(l, when).row); });
    fragment.appendChild(tbody);
    table.replaceChildren(caption, fragment);

    const t = now();
    learners.forEach(function (rec) { computeStuck(rec, t); applyFilter(rec); });
    paintPassCounts(null);
    applyWorkshop(message.workshop || workshop);
    if (message.warmup) applyWarmup(message.warmup);
    paintCounts();
    paintStuckGroups();
    paintPace();

    haveSnapshot = true;
    if (detailKey !== null) {
      if (learners.has(detailKey)) paintDetail(); else closeDetail(false);
    }
    live(socket !== null && socket.readyState === WebSocket.OPEN);
  }

  // -------------------------------------------------------- applying updates

  const queue = [];
  let flushPending = false;
  let flushFrame = 0;
  let flushTimer = 0;

  function enqueue(items) {
    if (!haveSnapshot || !items || !items.length) return;
    for (const item of items) queue.push(item);
    if (flushPending) return;
    flushPending = true;
    flushFrame = requestAnimationFrame(flush);
    flushTimer = setTimeout(flush, FLUSH_FALLBACK_MS);
  }

  function flush() {
    if (!flushPending) return;
    flushPending = false;
    cancelAnimationFrame(flushFrame);
    clearTimeout(flushTimer);
    const items = queue.splice(0, queue.length);
    const touched = new Set();        // records whose stuck state, age and filter need a look
    const repaint = new Set();        // records whose every cell may change (slide, new row)
    const changed = new Map();        // "learnerId:exerciseId" -> [record, exercise]: one cell each
    const passChanged = new Set();
    let roster = false;               // rows added or removed
    let pace = false;
    let newCommands = false;

    for (const item of items) {
      const rec = typeof item.learner !== "object" ? learner(item.learner) : undefined;
      switch (item.kind) {
        case "progress": {
          if (!rec || !item.exercise) break;
          const old = rec.data.exercises[item.exercise] || "pending";
          if (old === item.status) break;
          rec.data.exercises[item.exercise] = item.status;
          if ((old === "passed") !== (item.status === "passed")) {
            passCounts.set(item.exercise, Math.max(0, (passCounts.get(item.exercise) || 0) + (item.status === "passed" ? 1 : -1)));
            passChanged.add(item.exercise);
          }
          const at = parseTime(item.at);
          if (at !== null && at > (parseTime(rec.data.last_progress) || 0)) rec.data.last_progress = item.at;
          const ex = exerciseById.get(item.exercise);
          if (ex) changed.set(rec.key + ":" + ex.id, [rec, ex]);
          touched.add(rec);
          break;
        }
        case "presence":
          if (!rec) break;
          rec.data.connected = !!item.connected;
          if ("slide" in item) rec.data.slide = item.slide;
          paintPresence(rec);
          touched.add(rec);
          repaint.add(rec);
          pace = true;
          break;
        case "command":
          if (!rec) break;
          rec.data.commands.unshift({command: item.command, at: item.at});
          if (rec.data.commands.length > MAX_COMMANDS) rec.data.commands.length = MAX_COMMANDS;
          if (rec.key === detailKey) newCommands = true;
          break;
        case "learner": {
          if (!item.learner || item.learner.id === undefined) break;
          const old = learner(item.learner.id);
          if (old) forgetRow(old);
          const fresh = buildRow(item.learner);
          if (old) old.row.replaceWith(fresh.row); else tbody.appendChild(fresh.row);
          touched.delete(old);
          repaint.delete(old);
          touched.add(fresh);
          roster = true;
          pace = true;
          break;
        }
        case "removed":
          if (!rec) break;
          forgetRow(rec);
          rec.row.remove();
          touched.delete(rec);
          repaint.delete(rec);
          if (rec.key === detailKey) closeDetail(false);
          if (watching && watching.key === rec.key) closeWatch();
          roster = true;
          pace = true;
          break;
        case "warmup":
          applyWarmup(item.warmup);
          break;
        case "workshop":
          applyWorkshop(item.workshop);
          break;
      }
    }

    const t = now();
    const when = stamp();
    let stuckChanged = false;
    repaint.forEach(function (rec) {
      rec.section = sectionOf(rec.data.slide);
      paintCells(rec, when);
    });
    changed.forEach(function (pair, key) {
      const td = cells.get(key);       // gone if the row was removed or rebuilt since
      if (td && pair[0].cells[pair[1].index] === td && !repaint.has(pair[0])) paintCell(pair[0], pair[1], when, td);
    });
    touched.forEach(function (rec) {
      if (!learners.has(rec.key)) return;
      if (computeStuck(rec, t)) stuckChanged = true;
      paintAgo(rec, t);
      applyFilter(rec);
    });
    paintPassCounts(roster ? null : passChanged);
    if (roster || stuckChanged) paintStuckGroups();
    if (roster || pace) { paintCounts(); paintPace(); }
    if (detailKey !== null && learners.has(detailKey)) {
      const rec = learners.get(detailKey);
      if (touched.has(rec)) paintDetail();
      else if (newCommands) paintCommands(rec);
    }
  }

  function paintPresence(rec) {
    rec.row.setAttribute("data-connected", rec.data.connected ? "true" : "false");
    rec.presence.textContent = rec.data.connected ? "online, " : "offline, ";
    const slide = rec.data.slide === null ? "–" : String(rec.data.slide);
    if (rec.slideCell.textContent !== slide) rec.slideCell.textContent = slide;
  }

  function paintAgo(rec, t) {
    const last = parseTime(rec.data.last_progress);
    const text = last === null ? "none yet" : ago(t - last);
    if (text !== rec.agoText) {
      rec.agoText = text;
      rec.agoTime.textContent = text;
      rec.agoTime.setAttribute("datetime", rec.data.last_progress || "");
    }
  }

  // changed: a Set of exercise ids, or null for every one (the room changed size)
  function paintPassCounts(changed) {
    const total = learners.size;
    passCountEls.forEach(function (td, id) {
      if (changed && !changed.has(id)) return;
      const n = passCounts.get(id) || 0;
      const text = String(n);
      if (td.textContent !== text) td.textContent = text;
      td.style.setProperty("--pct", total ? (100 * n / total).toFixed(1) + "%" : "0%");
      td.title = n + " of " + total + " passed " + id;
    });
  }

  // Every 10 s: ages, and who became stuck just by time passing.
  function tick() {
    if (!haveSnapshot) return;
    const t = now();
    let changed = false;
    learners.forEach(function (rec) {
      paintAgo(rec, t);
      if (computeStuck(rec, t)) { changed = true; applyFilter(rec); }
    });
    if (changed) paintStuckGroups();
    if (detailKey !== null && learners.has(detailKey)) paintFacts(learners.get(detailKey));
  }
  setInterval(tick, TICK_MS);

  // ------------------------------------------------------ filter and counters

  const filterInput = $("[data-filter]");
  const onlyStuck = $("[data-only-stuck]");
  let filterText = "";

  function applyFilter(rec) {
    const hide = !!(filterText && rec.data.name.toLowerCase().indexOf(filterText) === -1) ||
                 (onlyStuck.checked && !rec.stuckOn);
    if (rec.row.hidden !== hide) rec.row.hidden = hide;
  }
  function applyFilters() { learners.forEach(applyFilter); }
  filterInput.addEventListener("input", function () { filterText = filterInput.value.trim().toLowerCase(); applyFilters(); });
  onlyStuck.addEventListener("change", applyFilters);

  function paintCounts() {
    let connected = 0;
    learners.forEach(function (rec) { if (rec.data.connected) connected += 1; });
    $("[data-learner-count]").textContent = String(learners.size);
    $("[data-connected-count]").textContent = String(connected);
    if (learners.size) {
      emptyEl.hidden = true;
    } else {
      emptyEl.hidden = false;
      emptyEl.textContent = "No learners yet. They join with the code " + config.code + ".";
    }
  }

  // ---------------------------------------------------------------- pace

  const stuckList = $("[data-stuck-groups]");
  const stuckNone = $("[data-stuck-none]");
  const stuckChip = $("[data-stuck-chip]");

  function paintStuckGroups() {
    const groups = new Map();   // exercise -> [records]
    learners.forEach(function (rec) {
      if (!rec.stuckOn) return;
      if (!groups.has(rec.stuckOn)) groups.set(rec.stuckOn, []);
      groups.get(rec.stuckOn).push(rec);
    });
    let count = 0;
    const items = [];
    exercises.forEach(function (ex) {
      const recs = groups.get(ex);
      if (!recs) return;
      count += recs.length;
      const li = el("li", {"data-stuck-on": ex.id});
      li.appendChild(el("span", {class: "stuck-ex", title: ex.title}, ex.id));
      li.appendChild(document.createTextNode(": "));
      recs.slice(0, STUCK_NAMES_SHOWN).forEach(function (rec, i) {
        if (i) li.appendChild(document.createTextNode(", "));
        li.appendChild(el("button", {type: "button", class: "link-button", "data-open-learner": rec.id}, rec.data.name));
      });
      if (recs.length > STUCK_NAMES_SHOWN) li.appendChild(document.createTextNode(" and " + (recs.length - STUCK_NAMES_SHOWN) + " more"));
      items.push(li);
    });
    stuckList.replaceChildren.apply(stuckList, items);
    stuckNone.hidden = count > 0;
    $("[data-stuck-count]").textContent = String(count);
    stuckChip.dataset.any = count > 0 ? "true" : "false";
  }

  const histogram = $("[data-section-histogram]");
  const medianEl = $("[data-median-slide]");
  const elsewhereEl = $("[data-elsewhere]");

  function paintPace() {
    const slides = [];
    const perSection = new Map();
    let elsewhere = 0;
    learners.forEach(function (rec) {
      if (!rec.data.connected || rec.data.slide === null) return;
      slides.push(rec.data.slide);
      const section = sectionOf(rec.data.slide);
      if (section) perSection.set(section, (perSection.get(section) || 0) + 1); else elsewhere += 1;
    });
    if (slides.length) {
      slides.sort(function (a, b) { return a - b; });
      const mid = slides.length >> 1;
      const median = slides.length % 2 ? slides[mid] : Math.round((slides[mid - 1] + slides[mid]) / 2);
      const section = sectionOf(median);
      medianEl.textContent = "Median slide: " + median + (config.slideCount ? " of " + config.slideCount : "") +
        (section ? " (" + section.title + ")" : "") + ", over " + slides.length + " connected.";
    } else {
      medianEl.textContent = "No one is on a slide yet.";
    }
    let most = 1;
    perSection.forEach(function (n) { most = Math.max(most, n); });
    const bars = sections.map(function (section) {
      const n = perSection.get(section) || 0;
      const label = section.title + ": " + n + (n === 1 ? " learner" : " learners");
      const li = el("li", {"data-section": section.id, title: label, "data-count": n});
      li.style.setProperty("--h", (n / most).toFixed(3));
      if (workshop.lead_slide !== null && workshop.lead_slide !== undefined &&
          section.first <= workshop.lead_slide && workshop.lead_slide <= section.last) li.dataset.leadHere = "true";
      li.append(el("span", {class: "bar", "aria-hidden": "true"}), el("span", {class: "visually-hidden"}, label));
      return li;
    });
    histogram.replaceChildren.apply(histogram, bars);
    elsewhereEl.textContent = elsewhere ? elsewhere + " on slides without exercises." : "";
  }

  // ----------------------------------------------- workshop, warm-up, room

  const endButton = $("[data-end-workshop]");
  const warmupButton = $("[data-warmup-start]");
  const leadingEl = $("[data-leading]");
  const leadInput = $("[data-lead-slide]");

  function applyWorkshop(w) {
    if (!w) return;
    const stuckAfterChanged = w.stuck_after !== undefined && w.stuck_after !== workshop.stuck_after;
    Object.assign(workshop, w);
    if (workshop.stuck_after === undefined || workshop.stuck_after === null) workshop.stuck_after = config.stuckAfter;
    if (w.title) $("[data-workshop-title]").textContent = w.title;
    const state = workshop.ended ? "ended" : workshop.open ? "open" : "closed";
    const badge = $("[data-workshop-state]");
    badge.dataset.workshopState = state;
    badge.textContent = {ended: "Ended", open: "Open", closed: "Closed to joining"}[state];
    root.dataset.ended = workshop.ended ? "true" : "false";
    endButton.disabled = !!workshop.ended;
    endButton.textContent = workshop.ended ? "Workshop ended" : "End workshop";
    warmupButton.disabled = !!workshop.ended;
    const lead = workshop.lead_slide;
    if (lead !== null && lead !== undefined) {
      leadingEl.textContent = "Leading: slide " + lead;
      leadingEl.dataset.active = "true";
      if (document.activeElement !== leadInput) leadInput.value = String(lead);
    } else {
      leadingEl.textContent = "Not leading";
      leadingEl.dataset.active = "false";
    }
    if (stuckAfterChanged && haveSnapshot) tick();
    if (haveSnapshot) paintPace();
  }

  const warmupBar = $("[data-warmup]");
  const warmupText = $("[data-warmup-text]");
  function applyWarmup(u) {
    if (!u) return;
    const initial = u.initial || 0;
    const ready = (u.ready || 0) + (u.in_use || 0);
    warmupBar.max = initial || 1;   // a <progress> max must be above 0
    warmupBar.value = Math.min(ready, warmupBar.max);
    warmupText.textContent = ready + " of " + initial + " sandboxes ready · " + (u.starting || 0) + " starting · " +
      (u.queued || 0) + " in line";
  }

  endButton.addEventListener("click", function () {
    if (!window.confirm("End the workshop? Every learner's sandbox is stopped; their progress is kept.")) return;
    send({type: "end"});
  });
  warmupButton.addEventListener("click", function () {
    if (send({type: "warmup"})) notice("Warming up sandboxes now.");
  });

  const broadcastForm = $("[data-broadcast]");
  const broadcastText = broadcastForm.querySelector("textarea");
  broadcastForm.addEventListener("submit", function (event) {
    event.preventDefault();
    const message = broadcastText.value.trim();
    if (!message) { broadcastText.focus(); return; }
    if (send({type: "broadcast", message: message})) {
      broadcastText.value = "";
      notice("Message sent to the room.");
    }
  });
  broadcastText.addEventListener("keydown", function (event) {
    if (event.key === "Enter" && (event.ctrlKey || event.metaKey)) {
      event.preventDefault();
      broadcastForm.requestSubmit();
    }
  });

  function leadSlide() {
    const n = Number(leadInput.value);
    const max = config.slideCount || Infinity;
    if (!Number.isInteger(n) || n < 1 || n > max) {
      leadInput.setAttribute("aria-invalid", "true");
      notice("Pick a slide from 1 to " + config.slideCount + ".", "error");
      leadInput.focus();
      return;
    }
    leadInput.removeAttribute("aria-invalid");
    send({type: "lead", slide: n});
  }
  $("[data-lead]").addEventListener("submit", function (event) { event.preventDefault(); leadSlide(); });
  $("[data-lead-stop]").addEventListener("click", function () { send({type: "lead", slide: null}); });
  function step(delta) {
    const max = config.slideCount || Infinity;
    const n = Math.min(max, Math.max(1, (Number(leadInput.value) || 1) + delta));
    leadInput.value = String(n);
    if (workshop.lead_slide !== null && workshop.lead_slide !== undefined) leadSlide();
  }
  $("[data-lead-prev]").addEventListener("click", function () { step(-1); });
  $("[data-lead-next]").addEventListener("click", function () { step(1); });

  const joinLink = $("[data-join-link]");
  $("[data-copy-link]").addEventListener("click", function () {
    const text = joinLink.href;
    const done = function () { notice("Join link copied."); };
    const fallback = function () {
      const range = document.createRange();
      range.selectNodeContents(joinLink);
      const selection = window.getSelection();
      selection.removeAllRanges();
      selection.addRange(range);
      notice("Link selected: press Ctrl+C to copy it.");
    };
    if (navigator.clipboard && navigator.clipboard.writeText) navigator.clipboard.writeText(text).then(done, fallback);
    else fallback();
  });

  // "Show to the room": the code and QR code, big, for the projector.
  const present = $("[data-present-dialog]");
  const presentBody = $("[data-present-body]");
  $("[data-present]").addEventListener("click", function () {
    const qr = $(".join-qr");
    const big = el("div", {class: "present-qr", role: "img", "aria-label": "QR code of the join link"});
    if (qr) qr.childNodes.forEach(function (node) { big.appendChild(node.cloneNode(true)); });
    const text = el("div", {class: "present-text"});
    text.append(el("p", null, "Open"), el("p", {class: "present-link"}, joinLink.textContent.trim()),
                el("p", null, "or go to /join/ and type the code"), el("p", {class: "present-code"}, config.code));
    presentBody.replaceChildren(big, text);
    if (present.showModal) present.showModal(); else present.setAttribute("open", "");
  });
  present.addEventListener("close", function () { presentBody.replaceChildren(); });

  // --------------------------------------------------- a learner's details

  const detail = $("[data-learner-detail]");
  const detailName = $("[data-detail-name]");
  const factsEl = $("[data-detail-facts]");
  const commandsEl = $("[data-commands]");
  const commandsEmpty = $("[data-commands-empty]");
  let detailKey = null;   // String(id) of the learner shown, or null

  function openDetail(key) {
    const rec = learner(key);
    if (!rec) return;
    if (detailKey !== null && detailKey !== rec.key) setExpanded(detailKey, false);
    detailKey = rec.key;
    detail.setAttribute("data-learner-detail", rec.key);
    commandsEl.setAttribute("data-commands", rec.key);
    detail.querySelectorAll("[data-action]").forEach(function (b) { b.setAttribute("data-learner", rec.key); });
    paintDetail();
    detail.hidden = false;
    setExpanded(rec.key, true);
    detailName.focus();
    send({type: "commands", learner: rec.id}, true);
  }

  function setExpanded(key, open) {
    const rec = learner(key);
    if (rec) rec.nameButton.setAttribute("aria-expanded", open ? "true" : "false");
  }

  function closeDetail(restoreFocus) {
    if (detailKey === null) return;
    const rec = learner(detailKey);
    setExpanded(detailKey, false);
    detailKey = null;
    detail.hidden = true;
    detail.setAttribute("data-learner-detail", "");
    if (restoreFocus !== false && rec && !rec.row.hidden) rec.nameButton.focus();
  }

  function paintDetail() {
    const rec = learner(detailKey);
    if (!rec) return;
    detailName.textContent = rec.data.name;
    paintFacts(rec);
    paintCommands(rec);
  }

  function fact(list, term, value) {
    list.push(el("dt", null, term));
    const dd = el("dd");
    if (typeof value === "string") dd.textContent = value; else dd.appendChild(value);
    list.push(dd);
  }

  function paintFacts(rec) {
    const l = rec.data;
    const t = now();
    const items = [];
    fact(items, "Connected", l.connected ? "yes" : "no");
    fact(items, "Slide", l.slide === null ? "–" : l.slide + (rec.section ? " · " + rec.section.title : ""));
    const joined = parseTime(l.joined_at);
    fact(items, "Joined", joined === null ? "–" : clock(joined) + " (" + ago(t - joined) + ")");
    const last = parseTime(l.last_progress);
    fact(items, "Last progress", last === null ? "none yet" : clock(last) + " (" + ago(t - last) + ")");
    let passed = 0;
    exercises.forEach(function (ex) { if (l.exercises[ex.id] === "passed") passed += 1; });
    fact(items, "Passed", passed + " of " + exercises.length);
    if (rec.stuckOn) fact(items, "Stuck on", rec.stuckOn.id + " (" + rec.stuckOn.title + ")");
    const hints = Object.keys(l.hints).filter(function (k) { return l.hints[k] > 0; })
      .map(function (k) { return k + " ×" + l.hints[k]; });
    fact(items, "Hints used", hints.length ? hints.join(", ") : "none");
    const expires = parseTime(l.sandbox.expires_at);
    if (l.sandbox.state === "stopped") {
      fact(items, "Sandbox", "stopped because " + (l.sandbox.reason || "of an unknown cause"));
    } else {
      fact(items, "Sandbox", l.sandbox.state + (expires === null ? "" : ", until " + hoursMinutes(expires) +
                                                " (" + until(expires - t) + ")"));
    }
    factsEl.replaceChildren.apply(factsEl, items);
  }

  function commandItem(c) {
    const li = el("li");
    const at = parseTime(c.at);
    li.append(timeEl(c.at, at === null ? "" : clock(at)), el("code", null, c.command));
    return li;
  }

  function paintCommands(rec) {
    commandsEl.replaceChildren.apply(commandsEl, rec.data.commands.map(commandItem));
    commandsEmpty.hidden = rec.data.commands.length > 0;
  }

  detail.addEventListener("keydown", function (event) {
    if (event.key === "Escape") { event.preventDefault(); closeDetail(); }
  });
  $("[data-close-detail]").addEventListener("click", function () { closeDetail(); });

  // Clicks anywhere: a learner's name opens their details; detail actions.
  root.addEventListener("click", function (event) {
    const opener = event.target.closest("[data-open-learner]");
    if (opener) {
      const key = opener.getAttribute("data-open-learner");
      if (detailKey === key && opener.classList.contains("name-button")) closeDetail();
      else openDetail(key);
      return;
    }
    const button = event.target.closest("[data-action]");
    if (!button) return;
    const rec = learner(button.getAttribute("data-learner"));
    if (!rec) return;
    const id = rec.id;
    const action = button.getAttribute("data-action");
    const name = rec.data.name;
    if (action === "watch") {
      openWatch(rec);
    } else if (action === "extend") {
      if (send({type: "extend", learner: id})) notice("Asked for more time for " + name + "'s sandbox.");
    } else if (action === "reset") {
      if (window.confirm("Reset " + name + "'s sandbox? They get a fresh one; their progress is kept.")) {
        send({type: "reset", learner: id});
      }
    } else if (action === "remove") {
      if (window.confirm("Remove " + name + " from the workshop? Their sandbox is stopped.")) {
        send({type: "remove", learner: id});
      }
    }
  });

  // ------------------------------------------------------ watch a terminal

  const watchPanel = $("[data-watch]");
  const watchPane = $("[data-watch-pane]");
  const watchName = $("[data-watch-name]");
  const watchState = $("[data-watch-state]");
  let watching = null;   // {key, terminal, element, opener}

  function setWatchState(state, message) {
    watchState.dataset.state = state;
    const label = window.LabdeckSandbox && window.LabdeckSandbox.label ? window.LabdeckSandbox.label(state) : state;
    watchState.textContent = state === "ready" ? "Live" : (message && state === "closed" ? message : label);
  }

  // node: the machine of a node set to watch (node1 by default).
  function openWatch(rec, node) {
    const opener = watching && watching.key === rec.key ? watching.opener : document.activeElement;
    node = node || 1;
    closeWatch(false);
    root.querySelectorAll("[data-watch-node]").forEach(function (b) {
      b.setAttribute("aria-pressed", Number(b.getAttribute("data-watch-node")) === node ? "true" : "false");
    });
    watchName.textContent = rec.data.name;
    watchPanel.setAttribute("data-watch", rec.key);
    watchPanel.hidden = false;
    const element = el("div", {class: "terminal", "data-terminal": "",
                               "aria-label": rec.data.name + "'s terminal, read-only"});
    watchPane.appendChild(element);
    watching = {key: rec.key, terminal: null, element: element, opener: opener};
    if (!window.LabdeckTerminal) { setWatchState("closed", "The terminal could not load."); return; }
    const path = "/ws/workshops/" + encodeURIComponent(config.code) + "/watch/" + encodeURIComponent(rec.key) + "/" +
                 (node > 1 ? "node" + node + "/" : "");
    watching.terminal = window.LabdeckTerminal.mount(element, {
      url: wsAddress(path), readOnly: true, onState: setWatchState,
    });
  }

  function closeWatch(restoreFocus) {
    if (!watching) return;
    const current = watching;
    watching = null;
    if (current.terminal) { try { current.terminal.dispose(); } catch (err) { /* already gone */ } }
    current.element.remove();
    watchPanel.hidden = true;
    watchPanel.setAttribute("data-watch", "");
    if (restoreFocus !== false && current.opener && document.contains(current.opener)) current.opener.focus();
  }

  $("[data-close-watch]").addEventListener("click", function () { closeWatch(); });
  root.querySelectorAll("[data-watch-node]").forEach(function (button) {
    button.addEventListener("click", function () {
      const rec = watching && learner(watching.key);
      if (rec) openWatch(rec, Number(button.getAttribute("data-watch-node")));
    });
  });
  // capture: xterm's textarea has the focus and would keep the key
  watchPanel.addEventListener("keydown", function (event) {
    if (event.key === "Escape") { event.preventDefault(); event.stopPropagation(); closeWatch(); }
  }, true);

  // ---------------------------------------------------------------- socket

  let socket = null;
  let backoff = BACKOFF_MIN_MS;
  let reconnectTimer = 0;

  function live(on) { root.setAttribute("data-live", on && haveSnapshot ? "true" : "false"); }

  function send(message, quiet) {
    if (socket && socket.readyState === WebSocket.OPEN) {
      socket.send(JSON.stringify(message));
      return true;
    }
    if (!quiet) notice("Not connected to the server: try again in a moment.", "error");
    return false;
  }

  function handle(message) {
    switch (message.type) {
      case "snapshot":
        backoff = BACKOFF_MIN_MS;
        renderSnapshot(message);
        break;
      case "updates":
        enqueue(message.items);
        break;
      case "commands": {
        const rec = learner(message.learner);
        if (!rec) break;
        rec.data.commands = sortCommands(message.commands || []);
        if (rec.key === detailKey) paintCommands(rec);
        break;
      }
      case "notice":
        notice(message.message, "info");
        break;
      case "error":
        notice(message.message, "error");
        break;
    }
  }

  function connect() {
    clearTimeout(reconnectTimer);
    connectionState(socket === null && !haveSnapshot ? "connecting" : "reconnecting");
    const sock = new WebSocket(wsAddress(config.wsUrl));
    socket = sock;
    sock.onopen = function () {
      if (sock !== socket) return;
      connectionState("ready");
    };
    sock.onmessage = function (event) {
      if (sock !== socket || typeof event.data !== "string") return;
      let message;
      try { message = JSON.parse(event.data); } catch (err) { return; }
      handle(message);
    };
    sock.onclose = function (event) {
      if (sock !== socket) return;
      socket = null;
      live(false);
      if (event.code >= 4000) {
        connectionState("closed");
        // the server usually says why just before closing: keep its words
        if (Date.now() - lastErrorAt > 2000) {
          notice(CLOSE_MESSAGES[event.code] || event.reason || "The server closed the dashboard (" + event.code + ").",
                 "error");
        }
        return;
      }
      const delay = backoff;
      backoff = Math.min(backoff * 2, BACKOFF_MAX_MS);
      connectionState("reconnecting");
      reconnectTimer = setTimeout(connect, delay);
    };
  }

  window.addEventListener("pagehide", function () {
    closeWatch(false);
    clearTimeout(reconnectTimer);
    if (socket) { const old = socket; socket = null; old.close(1000); }
  });
  window.addEventListener("pageshow", function (event) {
    if (event.persisted && socket === null) { backoff = BACKOFF_MIN_MS; connect(); }
  });

  connect();
})();

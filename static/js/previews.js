// The ports that the learner's containers publish, as links beside the
// terminal, kept up to date by the server.
//
// Once sandbox.js announces the sandbox ("labdeck:sandbox" on document), this
// opens /ws/previews/<sandbox>/, which sends {"type": "ports", "ports": [...]}
// whenever they change. Each port links to /previews/<sandbox>/<port>/ on the
// site, which sends the learner on to the preview's own origin, in a new tab.
// Share asks for a link that anyone may open; Stop sharing revokes it.
(function () {
  "use strict";

  const bar = document.querySelector("[data-previews]");
  if (!bar) return;
  const list = bar.querySelector("[data-previews-list]");
  const BACKOFF_MIN_MS = 1000;
  const BACKOFF_MAX_MS = 30000;
  const FINAL = {4403: true, 4404: true};  // not this learner's, or gone: a new sandbox comes with a new event
  let sandbox = null;
  let ws = null;
  let timer = null;
  let backoff = BACKOFF_MIN_MS;
  let ports = [];

  function el(tag, text, className) {
    const node = document.createElement(tag);
    if (text) node.textContent = text;
    if (className) node.className = className;
    return node;
  }

  function button(label, role, port) {
    const b = el("button", label, "button");
    b.type = "button";
    b.dataset[role] = "";
    b.dataset.port = String(port);
    return b;
  }

  function describe(entry) {
    if (!entry.published) return "not published now";
    const what = entry.container ? entry.container + (entry.image ? " (" + entry.image + ")" : "") : entry.image;
    return (what || "a container") + (entry.private ? ", port " + entry.private : "");
  }

  function item(entry) {
    const li = el("li", "", "previews-item");
    li.dataset.previewPort = String(entry.port);
    const link = el("a", ":" + entry.port);
    link.href = entry.url;
    link.target = "_blank";
    link.rel = "noopener";
    link.dataset.previewLink = "";
    link.title = "Open port " + entry.port + " of your sandbox in a new tab";
    li.append(link, el("span", describe(entry), "previews-what"));
    if (entry.share_url) {
      const url = el("input", "", "previews-share-url");
      url.readOnly = true;
      url.value = entry.share_url;
      url.dataset.previewShareUrl = "";
      url.setAttribute("aria-label", "Share link of port " + entry.port + ": anyone with it can open the page");
      li.append(url, button("Copy", "previewCopy", entry.port), button("Stop sharing", "previewUnshare", entry.port));
    } else if (entry.published) {
      li.append(button("Share", "previewShare", entry.port));
    }
    return li;
  }

  // Rebuild the list, keeping the focus on the same control of the same port.
  function render(next) {
    ports = next;
    const active = document.activeElement;
    const row = active && list.contains(active) ? active.closest("[data-preview-port]") : null;
    const focus = row ? [row.dataset.previewPort, Object.keys(active.dataset).join(" ")] : null;
    list.replaceChildren.apply(list, ports.map(item));
    bar.hidden = ports.length === 0;
    if (!focus) return;
    const again = list.querySelector('[data-preview-port="' + focus[0] + '"]');
    const control = again && Array.from(again.querySelectorAll("a, button, input")).find(function (c) {
      return Object.keys(c.dataset).join(" ") === focus[1];
    });
    if (control) control.focus();
  }

  function connect() {
    clearTimeout(timer);
    const scheme = location.protocol === "https:" ? "wss://" : "ws://";
    const sock = new WebSocket(scheme + location.host + "/ws/previews/" + encodeURIComponent(sandbox) + "/");
    ws = sock;
    sock.onopen = function () { backoff = BACKOFF_MIN_MS; };
    sock.onmessage = function (event) {
      if (sock !== ws) return;
      let msg;
      try { msg = JSON.parse(event.data); } catch (err) { return; }
      if (msg && msg.type === "ports" && Array.isArray(msg.ports)) render(msg.ports);
    };
    sock.onclose = function (event) {
      if (sock !== ws) return;
      ws = null;
      if (FINAL[event.code]) return render([]);
      timer = setTimeout(connect, backoff + Math.random() * 250);
      backoff = Math.min(backoff * 2, BACKOFF_MAX_MS);
    };
  }

  function follow(id) {
    if (!id || id === sandbox) return;
    clearTimeout(timer);
    if (ws) {
      const old = ws;
      ws = null;
      old.close();
    }
    render([]);
    sandbox = id;
    backoff = BACKOFF_MIN_MS;
    connect();
  }

  async function post(port, action) {
    const response = await fetch("/previews/" + encodeURIComponent(sandbox) + "/" + port + "/" + action, {
      method: "POST", headers: {"X-CSRFToken": window.LabdeckSandbox.csrfToken()}, credentials: "same-origin",
    });
    if (!response.ok) return;
    const answer = await response.json();
    render(ports.map(function (p) {
      return p.port === answer.port ? Object.assign({}, p, {share_url: answer.share_url}) : p;
    }).filter(function (p) { return p.published || p.share_url; }));
  }

  function copy(port, buttonEl) {
    const input = list.querySelector('[data-preview-port="' + port + '"] [data-preview-share-url]');
    if (!input) return;
    input.select();
    const done = function () { buttonEl.textContent = "Copied"; setTimeout(function () { buttonEl.textContent = "Copy"; }, 1500); };
    if (navigator.clipboard && window.isSecureContext) navigator.clipboard.writeText(input.value).then(done, function () {});
    else if (document.execCommand("copy")) done();
  }

  list.addEventListener("click", function (event) {
    const target = event.target.closest("button[data-port]");
    if (!target) return;
    const port = Number(target.dataset.port);
    if ("previewShare" in target.dataset) post(port, "share");
    else if ("previewUnshare" in target.dataset) post(port, "unshare");
    else if ("previewCopy" in target.dataset) copy(port, target);
  });
  document.addEventListener("labdeck:sandbox", function (event) { follow(event.detail && event.detail.sandbox); });
})();

// The classroom, on the learner's page: what the instructor says to the room
// (a broadcast, "follow my slides", the end of the workshop) or to this
// learner (a fresh sandbox, removal, someone watching the terminal, a sandbox
// that stopped for good).
// Messages come from the player's progress socket as "labdeck:message"
// events; the player's hooks (window.LabdeckPlayer) act on them.
(function () {
  "use strict";

  const Player = window.LabdeckPlayer;
  if (!Player || !document.getElementById("player")) return;

  const FOLLOW_KEY = "labdeck:follow-lead";
  let following = true;
  try { following = window.localStorage.getItem(FOLLOW_KEY) !== "no"; } catch (err) { /* private mode */ }
  let leadSlide = null;

  const area = document.createElement("div");
  area.className = "room-notices";
  area.setAttribute("data-room-notices", "");
  document.querySelector(".topbar").after(area);

  // One banner per kind: a new message of a kind replaces the old one.
  function banner(kind, text, options) {
    let box = area.querySelector('[data-room="' + kind + '"]');
    if (!text) {
      if (box) box.remove();
      return null;
    }
    if (!box) {
      box = document.createElement("div");
      box.className = "room-notice room-" + kind;
      box.dataset.room = kind;
      box.setAttribute("role", options && options.alert ? "alert" : "status");
      area.appendChild(box);
    }
    box.replaceChildren();
    const line = document.createElement("span");
    line.textContent = text;
    box.appendChild(line);
    if (options && options.dismiss) {
      const close = document.createElement("button");
      close.type = "button";
      close.className = "button";
      close.textContent = "Dismiss";
      close.addEventListener("click", function () { box.remove(); });
      box.appendChild(close);
    }
    return box;
  }

  function showLead() {
    if (leadSlide === null) {
      banner("lead", "");
      return;
    }
    const box = banner("lead", following
      ? "Following the instructor's slides (slide " + leadSlide + ")."
      : "The instructor is leading the slides (slide " + leadSlide + ").");
    const toggle = document.createElement("button");
    toggle.type = "button";
    toggle.className = "button";
    toggle.setAttribute("data-follow", following ? "on" : "off");
    toggle.textContent = following ? "Stop following" : "Follow";
    toggle.addEventListener("click", function () {
      following = !following;
      try { window.localStorage.setItem(FOLLOW_KEY, following ? "yes" : "no"); } catch (err) { /* ignore */ }
      if (following) Player.goTo(leadSlide);
      showLead();
    });
    box.appendChild(toggle);
  }

  document.addEventListener("labdeck:message", function (event) {
    const msg = event.detail || {};
    switch (msg.type) {
      case "broadcast":
        banner("broadcast", (msg.sender ? msg.sender + ": " : "") + msg.message, {alert: true, dismiss: true});
        break;
      case "lead":
        leadSlide = typeof msg.slide === "number" ? msg.slide : null;
        if (leadSlide !== null && following) Player.goTo(leadSlide);
        showLead();
        break;
      case "ended":
        banner("ended", msg.message || "The workshop has ended.", {alert: true});
        break;
      case "reset":
        banner("reset", msg.message || "You have a fresh sandbox.", {dismiss: true});
        Player.restartSandbox();
        break;
      case "removed":
        banner("removed", msg.message || "You were removed from the workshop.", {alert: true});
        break;
      case "lost": {
        // The sandbox stopped for good (it ran out of memory, its host
        // stopped answering…): say why, and offer a new one in one click,
        // brought up to the learner's section where the page can catch up.
        const box = banner("lost", msg.message || "Your sandbox has stopped.", {alert: true});
        const canCatchUp = Boolean(document.querySelector("[data-catchup-button]"));
        const again = document.createElement("button");
        again.type = "button";
        again.className = "button";
        again.setAttribute("data-new-sandbox", "");
        again.textContent = canCatchUp ? "Start a new sandbox and catch up" : "Start a new sandbox";
        again.addEventListener("click", function () {
          box.remove();
          Player.restartSandbox({catchUp: canCatchUp});
        });
        box.appendChild(again);
        break;
      }
      case "revived":
        banner("lost", msg.message || "Your sandbox is back.", {dismiss: true});
        break;
      case "watched":
        banner("watched", msg.message || "Your instructor is watching your terminal.");
        break;
      case "unwatched":
        banner("watched", "");
        break;
    }
  });
})();

// "Catch up" on the course pages: a learner back with a fresh sandbox asks
// the server to run the solutions of the earlier sections' exercises
// (lessons/catchup.py), and watches a progress bar while it does.
//
// It talks through the player's progress websocket (player.js):
//   asks  {type: "catchup", slide: N}
//   hears {type: "catchup", state: "running" | "done" | "failed",
//          done, total, exercise, message}
(function () {
  "use strict";

  // The server ignores the request while the learner has no sandbox yet, and
  // a dropped websocket ends a catch-up without a word: after this long with
  // no news, give the button back. A step may build an image, and the server
  // allows a script 300 s.
  const FIRST_ANSWER_MS = 10000;
  const STEP_MS = 330000;

  const button = document.querySelector("[data-catchup-button]");
  if (!button) return;
  const status = document.querySelector("[data-catchup-status]");
  const bar = document.querySelector("progress[data-catchup]");
  const text = document.querySelector("[data-catchup-text]");
  let watchdog = null;

  function setRunning(on) {
    button.disabled = on;
    clearTimeout(watchdog);
  }

  function giveUpAfter(ms) {
    watchdog = setTimeout(function () {
      setRunning(false);
      status.dataset.state = "failed";
      text.textContent = "No news of the catch-up: is your terminal ready? Press Catch up to try again.";
    }, ms);
  }

  function catchUp() {
    const player = window.LabdeckPlayer;
    if (button.disabled || !player) return;
    setRunning(true);
    status.hidden = false;
    status.dataset.state = "starting";
    bar.removeAttribute("value");  // indeterminate until the server answers
    text.textContent = "Catching up…";
    player.send({type: "catchup", slide: player.slide() || 1});
    giveUpAfter(FIRST_ANSWER_MS);
  }

  button.addEventListener("click", function () {
    // Setup scripts may remove containers and images: the learner's own work too.
    if (!window.confirm("Catch up runs the solutions of the earlier sections in your sandbox, " +
                        "and may remove containers and images you made. Go on?")) return;
    catchUp();
  });
  // A fresh sandbox the learner chose to bring up to date (room.js): nothing in it to lose.
  document.addEventListener("labdeck:catchup", catchUp);

  document.addEventListener("labdeck:message", function (event) {
    const msg = event.detail;
    if (!msg || msg.type !== "catchup") return;
    const total = Number(msg.total) || 0;
    status.hidden = false;
    status.dataset.state = msg.state;
    bar.max = Math.max(total, 1);
    bar.value = total ? Number(msg.done) || 0 : 1;
    text.textContent = msg.message || "";
    setRunning(msg.state === "running");
    if (msg.state === "running") giveUpAfter(STEP_MS);
  });
})();

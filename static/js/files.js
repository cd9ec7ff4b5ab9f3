// The learner's own files, above the terminal (templates/_files.html): drop
// files on the terminal (or pick them) to upload them into the sandbox,
// download a file of it, or edit one in the browser with CodeMirror
// (static/vendor/codemirror/, loaded the first time the editor opens).
//
//   POST /sandbox/files?dir=D&name=N   the file as the body: N in D (the home if empty)
//   POST /sandbox/files?path=P         the editor's text as the body
//   GET  /sandbox/files?path=P         the file, as an attachment
//   GET  /sandbox/files/text?path=P    {state: "opened" or "new", path, text, message}
//
// Every answer that is not a file is JSON with a "message" for the learner.
// Sizes are checked here first, so a file over the cap is never sent; the
// server checks them again.
(function () {
  "use strict";

  const bar = document.querySelector("[data-files]");
  if (!bar) return;
  const pane = bar.closest(".terminal-pane") || document.body;
  const $ = (selector) => document.querySelector(selector);
  const pathInput = $("[data-file-path]");
  const dirInput = $("[data-upload-dir]");
  const picker = $("[data-upload-input]");
  const noticeEl = $("[data-files-notice]");
  const uploadLimit = Number(bar.dataset.uploadLimit);
  const home = bar.dataset.home;
  const encoder = new TextEncoder();

  // The same words as sandboxes/files.py's human_size and too_large.
  function humanSize(size) {
    const units = [["GiB", 1 << 30], ["MiB", 1 << 20], ["KiB", 1 << 10]];
    for (const [unit, scale] of units) {
      if (size >= scale) {
        const value = size / scale;
        return (Number.isInteger(value) ? value : value.toFixed(1)) + " " + unit;
      }
    }
    return size + " bytes";
  }
  function tooLarge(what, limit, taker) {
    return what + " is larger than " + humanSize(limit) + ", the most " + taker + " takes.";
  }

  function notice(text, kind) {
    noticeEl.textContent = text;
    noticeEl.dataset.kind = kind || "info";
  }

  // The server's message, or what to say when the answer is not ours
  // (a proxy's error page, Django's CSRF page).
  async function messageOf(response) {
    try {
      const answer = await response.json();
      if (answer && answer.message) return answer.message;
    } catch (err) { /* not JSON */ }
    return "The server refused it (HTTP " + response.status + ").";
  }

  async function send(query, body) {
    let response;
    try {
      response = await fetch("/sandbox/files?" + new URLSearchParams(query), {
        method: "POST", body: body, credentials: "same-origin",
        headers: {"Content-Type": "application/octet-stream", "X-CSRFToken": window.LabdeckSandbox.csrfToken()},
      });
    } catch (err) {
      return {ok: false, message: "Labdeck cannot be reached: nothing was saved."};
    }
    if (!response.ok) return {ok: false, message: await messageOf(response)};
    return Object.assign({ok: true}, await response.json());
  }

  // ---------------------------------------------------------------- uploads

  async function upload(fileList) {
    const list = Array.from(fileList || []);
    const dir = dirInput.value.trim() || home;
    let done = 0, last = "";
    for (const file of list) {
      if (file.size > uploadLimit) {
        notice(tooLarge(file.name, uploadLimit, "an upload"), "error");
        return;
      }
      notice("Uploading " + file.name + "…");
      const answer = await send({dir: dir, name: file.name}, file);
      if (!answer.ok) {
        notice(file.name + ": " + answer.message, "error");
        return;
      }
      done += 1;
      last = answer.path;
    }
    if (done === 1) notice("Uploaded " + list[0].name + " to " + last + ".");
    else if (done > 1) notice("Uploaded " + done + " files to " + last.replace(/\/[^/]*$/, "/") + ".");
  }

  // Files dragged over the pane, not over the editor (which takes a drop as text).
  function carriesFiles(event) {
    if (event.target.closest && event.target.closest("[data-editor]")) return false;
    return event.dataTransfer && Array.from(event.dataTransfer.types || []).indexOf("Files") >= 0;
  }

  let dragDepth = 0;
  pane.addEventListener("dragenter", function (event) {
    if (!carriesFiles(event)) return;
    event.preventDefault();
    dragDepth += 1;
    pane.classList.add("dropping");
    notice("Drop to upload to " + (dirInput.value.trim() || home) + ".");
  });
  pane.addEventListener("dragover", function (event) {
    if (!carriesFiles(event)) return;
    event.preventDefault();
    event.dataTransfer.dropEffect = "copy";
  });
  pane.addEventListener("dragleave", function () {
    dragDepth = Math.max(0, dragDepth - 1);
    if (!dragDepth) pane.classList.remove("dropping");
  });
  pane.addEventListener("drop", function (event) {
    dragDepth = 0;
    pane.classList.remove("dropping");
    if (!carriesFiles(event) || !event.dataTransfer.files.length) return;
    event.preventDefault();  // the browser would open the file instead
    upload(event.dataTransfer.files);
  });

  // Files dropped anywhere else on the page do nothing, rather than the
  // browser leaving the lesson to show them.
  ["dragover", "drop"].forEach(function (type) {
    window.addEventListener(type, function (event) {
      if (!event.defaultPrevented && !(event.target.closest && event.target.closest("[data-editor]")) &&
          event.dataTransfer && Array.from(event.dataTransfer.types || []).indexOf("Files") >= 0) {
        event.preventDefault();
      }
    });
  });

  $("[data-upload-pick]").addEventListener("click", function () { picker.click(); });
  picker.addEventListener("change", function () {
    upload(picker.files).finally(function () { picker.value = ""; });
  });

  // -------------------------------------------------------------- downloads

  // The name the server chose (Content-Disposition), RFC 6266 style.
  function attachmentName(response, fallback) {
    const header = response.headers.get("Content-Disposition") || "";
    const extended = header.match(/filename\*=utf-8''([^;]+)/i);
    if (extended) {
      try { return decodeURIComponent(extended[1]); } catch (err) { /* fall through */ }
    }
    const plain = header.match(/filename="((?:[^"\\]|\\.)*)"/);
    return plain ? plain[1].replace(/\\(.)/g, "$1") : fallback;
  }

  async function download() {
    const path = pathInput.value.trim();
    let response;
    try {
      response = await fetch("/sandbox/files?" + new URLSearchParams({path: path}), {credentials: "same-origin"});
    } catch (err) {
      notice("Labdeck cannot be reached.", "error");
      return;
    }
    if (!response.ok) {
      notice(await messageOf(response), "error");
      return;
    }
    const url = URL.createObjectURL(await response.blob());
    const link = document.createElement("a");
    link.href = url;
    link.download = attachmentName(response, "download");
    link.hidden = true;
    document.body.appendChild(link);
    link.click();
    link.remove();
    setTimeout(function () { URL.revokeObjectURL(url); }, 60000);
    notice("Downloaded " + path + ".");
  }

  $("[data-file-download]").addEventListener("click", download);

  // ----------------------------------------------------------------- editor

  const panel = $("[data-editor]");
  const pathEl = $("[data-editor-path]");
  const modeSelect = $("[data-editor-mode]");
  const messageEl = $("[data-editor-message]");
  const saveButton = $("[data-editor-save]");
  const editor = {view: null, language: null, path: "", saved: "", loading: null};

  function say(text, kind) {
    messageEl.textContent = text || "";
    messageEl.dataset.kind = kind || "info";
  }

  function loadCodeMirror() {
    if (window.LabdeckCodeMirror) return Promise.resolve();
    if (!editor.loading) {
      editor.loading = new Promise(function (resolve, reject) {
        const script = document.createElement("script");
        script.src = bar.dataset.codemirror;
        script.onload = resolve;
        script.onerror = function () {
          editor.loading = null;
          reject(new Error("The editor could not be loaded: reload the page."));
        };
        document.head.appendChild(script);
      });
    }
    return editor.loading;
  }

  // The syntax a file's name (or its #! line) suggests.
  function guessMode(path, text) {
    const name = path.split("/").pop().toLowerCase();
    if (/^(docker|container)file(\..*)?$/.test(name) || name.endsWith(".dockerfile")) return "dockerfile";
    if (/\.(ya?ml)$/.test(name)) return "yaml";
    if (/\.(sh|bash)$/.test(name) || /^\.(bashrc|profile|bash_profile)$/.test(name) ||
        /^#!.*\b(ba|da)?sh\b/.test(text)) return "shell";
    return "plain";
  }

  function languageFor(mode) {
    const CM = window.LabdeckCodeMirror;
    const modes = {dockerfile: CM.dockerFile, shell: CM.shell, yaml: CM.yaml};
    return modes[mode] ? CM.StreamLanguage.define(modes[mode]) : [];
  }

  function modified() {
    return !!editor.view && editor.view.state.doc.toString() !== editor.saved;
  }

  function showModified() {
    pathEl.textContent = editor.path + (modified() ? " (not saved)" : "");
  }

  function newState(text, mode) {
    const CM = window.LabdeckCodeMirror;
    editor.language = new CM.Compartment();
    return CM.EditorState.create({
      doc: text,
      extensions: [
        CM.lineNumbers(), CM.highlightActiveLineGutter(), CM.highlightSpecialChars(), CM.history(),
        CM.drawSelection(), CM.indentOnInput(), CM.bracketMatching(), CM.highlightActiveLine(),
        CM.syntaxHighlighting(CM.defaultHighlightStyle, {fallback: true}),
        CM.keymap.of([{key: "Mod-s", preventDefault: true, run: function () { save(); return true; }}]
          .concat(CM.defaultKeymap, CM.historyKeymap, [CM.indentWithTab])),
        editor.language.of(languageFor(mode)),
        CM.EditorView.contentAttributes.of({"aria-label": "Text of the file (Escape, then Tab, leaves it)"}),
        CM.EditorView.updateListener.of(function (update) { if (update.docChanged) showModified(); }),
      ],
    });
  }

  async function openEditor(event) {
    if (event) event.preventDefault();
    const path = pathInput.value.trim();
    if (modified() && !window.confirm("Discard the changes to " + editor.path + "?")) return;
    let response;
    try {
      response = await fetch("/sandbox/files/text?" + new URLSearchParams({path: path}), {credentials: "same-origin"});
    } catch (err) {
      notice("Labdeck cannot be reached.", "error");
      return;
    }
    if (!response.ok) {
      notice(await messageOf(response), "error");
      return;
    }
    const answer = await response.json();
    try {
      await loadCodeMirror();
    } catch (err) {
      notice(err.message, "error");
      return;
    }
    const mode = guessMode(answer.path, answer.text);
    editor.path = answer.path;
    editor.saved = answer.text;
    modeSelect.value = mode;
    if (editor.view) editor.view.setState(newState(answer.text, mode));
    else editor.view = new window.LabdeckCodeMirror.EditorView({
      state: newState(answer.text, mode), parent: $("[data-editor-view]"),
    });
    panel.hidden = false;
    showModified();
    say(answer.message);
    notice("Editing " + answer.path + ".");
    editor.view.focus();
  }

  async function save() {
    if (!editor.view) return;
    const text = editor.view.state.doc.toString();
    const body = encoder.encode(text);
    if (body.length > uploadLimit) {
      say(tooLarge(editor.path, uploadLimit, "an upload"), "error");
      return;
    }
    saveButton.disabled = true;
    say("Saving…");
    const answer = await send({path: editor.path}, body);
    saveButton.disabled = false;
    if (!answer.ok) {
      say(answer.message, "error");
      return;
    }
    editor.saved = text;
    showModified();
    say("Saved " + answer.path + ".");
  }

  function closeEditor() {
    if (modified() && !window.confirm("Discard the changes to " + editor.path + "?")) return;
    panel.hidden = true;
    say("");
    const terminal = document.querySelector("[data-terminal] .xterm-helper-textarea");
    if (terminal) terminal.focus();
  }

  $("[data-file-form]").addEventListener("submit", openEditor);
  saveButton.addEventListener("click", save);
  $("[data-editor-close]").addEventListener("click", closeEditor);
  modeSelect.addEventListener("change", function () {
    if (!editor.view) return;
    editor.view.dispatch({effects: editor.language.reconfigure(languageFor(modeSelect.value))});
  });
  window.addEventListener("beforeunload", function (event) {
    if (modified() && !panel.hidden) event.preventDefault();
  });
})();

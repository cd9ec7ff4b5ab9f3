/*
 * Labdeck browser terminal: connects an xterm.js terminal to the sandbox shell
 * over a websocket. Plain script (no build step); needs the vendored globals
 * window.Terminal, window.FitAddon.FitAddon and window.WebLinksAddon.WebLinksAddon.
 *
 * Wire protocol: every message is binary, byte 0 is the type, the rest payload.
 *   client -> server: 0x00 INPUT (UTF-8), 0x01 RESIZE (cols u16 BE, rows u16 BE),
 *                     0x02 ACK (u32 BE: OUTPUT bytes rendered since last ACK)
 *   server -> client: 0x10 OUTPUT (raw bytes), 0x11 STATUS (JSON), 0x12 EXIT (JSON)
 */
(function () {
  'use strict';

  var MSG = { INPUT: 0x00, RESIZE: 0x01, ACK: 0x02, OUTPUT: 0x10, STATUS: 0x11, EXIT: 0x12 };
  var ACK_BYTES = 16384;      // ack at once when this much output has been rendered
  var ACK_DELAY_MS = 30;      // otherwise ack this long after the last render
  var BACKOFF_MIN_MS = 250;
  var BACKOFF_MAX_MS = 5000;
  var FIT_DEBOUNCE_MS = 50;
  // The server said no (refused, unknown, malformed, opened elsewhere, gone):
  // retrying won't help. 4409 (not ready) and 4503 (host unavailable) retry.
  var REFUSED_CODES = { 4001: true, 4400: true, 4403: true, 4404: true, 4410: true };
  var FONT = 'ui-monospace, "SFMono-Regular", "Cascadia Mono", "DejaVu Sans Mono", ' +
             'Menlo, Consolas, "Liberation Mono", monospace';

  var encoder = new TextEncoder();
  var decoder = new TextDecoder();

  function frame(type, payload) {
    var buf = new Uint8Array(1 + payload.length);
    buf[0] = type;
    buf.set(payload, 1);
    return buf;
  }

  function resizeFrame(cols, rows) {
    var payload = new Uint8Array(4);
    new DataView(payload.buffer).setUint16(0, cols, false);
    new DataView(payload.buffer).setUint16(2, rows, false);
    return frame(MSG.RESIZE, payload);
  }

  function ackFrame(count) {
    var payload = new Uint8Array(4);
    new DataView(payload.buffer).setUint32(0, Math.min(count, 0xffffffff), false);
    return frame(MSG.ACK, payload);
  }

  // onBinary hands us a "binary string" (one char per byte, e.g. X10 mouse
  // reports); it must not be UTF-8 encoded or bytes >= 0x80 would double.
  function binaryStringToBytes(s) {
    var bytes = new Uint8Array(s.length);
    for (var i = 0; i < s.length; i++) bytes[i] = s.charCodeAt(i) & 0xff;
    return bytes;
  }

  function parseJson(bytes) {
    try { return JSON.parse(decoder.decode(bytes)) || {}; } catch (e) { return {}; }
  }

  function mount(element, options) {
    var url = options.url;
    var onState = options.onState || function () {};
    // readOnly: watch someone else's shell (the instructor's view). xterm takes
    // no input, and nothing but ACKs goes to the server: no keys, no paste, no
    // RESIZE. The server says the size of the learner's screen instead
    // (STATUS "size"), and the view takes it, so it shows that screen exactly.
    var readOnly = !!options.readOnly;

    var term = new window.Terminal({
      screenReaderMode: true,   // also what the tests read: .xterm-accessibility rows
      cursorBlink: true,
      scrollback: 5000,
      fontFamily: FONT,
      convertEol: false,        // the pty already sends \r\n
      theme: { background: '#1e1e1e' },
      disableStdin: readOnly
    });
    if (readOnly) element.setAttribute('data-readonly', 'true');
    var fitAddon = new window.FitAddon.FitAddon();
    term.loadAddon(fitAddon);
    term.loadAddon(new window.WebLinksAddon.WebLinksAddon());
    term.open(element);

    var ws = null;
    var generation = 0;        // bumps per connection; stale write callbacks are ignored
    var disposed = false;
    var exited = false;        // shell ended: wait for a key before reconnecting
    var backoff = BACKOFF_MIN_MS;
    var reconnectTimer = null;
    var unacked = 0;
    var ackTimer = null;
    var fitTimer = null;

    function send(bytes) {
      if (ws && ws.readyState === WebSocket.OPEN) ws.send(bytes);
    }
    function sendInput(text) { if (!readOnly) send(frame(MSG.INPUT, encoder.encode(text))); }
    function sendResize() { if (!readOnly) send(resizeFrame(term.cols, term.rows)); }

    // --- flow control: tell the server how much output xterm has really rendered,
    // so a flood (e.g. `yes`) is throttled at the source instead of freezing the tab.
    function flushAck() {
      clearTimeout(ackTimer);
      ackTimer = null;
      if (unacked > 0) send(ackFrame(unacked));
      unacked = 0;
    }
    function rendered(gen, n) {
      if (gen !== generation || disposed) return;  // bytes of a dead connection
      unacked += n;
      if (unacked >= ACK_BYTES) { flushAck(); return; }
      clearTimeout(ackTimer);
      ackTimer = setTimeout(flushAck, ACK_DELAY_MS);
    }

    function handleStatus(status) {
      if (status.reset) {
        // Queue the reset behind output already in xterm's write buffer, so a
        // late chunk from the old connection can't land on the replayed screen.
        term.write('', function () { term.reset(); });
      }
      if (status.state === 'ready') backoff = BACKOFF_MIN_MS;
      if (status.state === 'size') {
        if (readOnly && status.cols > 0 && status.rows > 0) term.resize(status.cols, status.rows);
        return;
      }
      if (status.state) onState(status.state, status.message || '');
    }

    function handleExit(info) {
      exited = true;
      var code = typeof info.code === 'number' ? info.code : '?';
      term.write('\r\n\x1b[2m[shell exited with code ' + code +
                 (readOnly ? ']' : ' \u2014 press any key to start a new one]') + '\x1b[0m\r\n');
      onState('exited', 'Shell exited with code ' + code);
    }

    function handleMessage(data, gen) {
      if (!(data instanceof ArrayBuffer) || data.byteLength === 0) return;
      var bytes = new Uint8Array(data);
      var payload = bytes.subarray(1);
      switch (bytes[0]) {
        case MSG.OUTPUT:
          term.write(payload, function () { rendered(gen, payload.length); });
          break;
        case MSG.STATUS: handleStatus(parseJson(payload)); break;
        case MSG.EXIT: handleExit(parseJson(payload)); break;
      }
    }

    function handleClose(ev) {
      ws = null;
      if (disposed) return;
      if (REFUSED_CODES[ev.code]) {
        onState('closed', ev.reason || 'The server refused the connection.');
        return;
      }
      if (exited && !readOnly) return;  // reconnect happens on the next key press
      var delay = backoff;
      backoff = Math.min(backoff * 2, BACKOFF_MAX_MS);
      onState('reconnecting', 'Connection lost; retrying in ' + (delay / 1000) + 's');
      reconnectTimer = setTimeout(connect, delay);
    }

    function connect() {
      clearTimeout(reconnectTimer);
      clearTimeout(ackTimer);
      generation += 1;
      unacked = 0;  // ack counts are per connection
      var gen = generation;
      var sock = new WebSocket(url);
      sock.binaryType = 'arraybuffer';
      ws = sock;
      // Handlers check `sock === ws` so a replaced socket can't act on the new one.
      sock.onopen = function () { if (sock === ws) sendResize(); };
      sock.onmessage = function (ev) { if (sock === ws) handleMessage(ev.data, gen); };
      sock.onclose = function (ev) { if (sock === ws) handleClose(ev); };
    }

    function restartAfterExit() {
      exited = false;
      backoff = BACKOFF_MIN_MS;
      var old = ws;
      ws = null;  // detach first so its close event is ignored
      if (old) old.close(1000);
      onState('connecting', 'Starting a new shell\u2026');
      connect();
    }

    function onUserData(bytes) {
      if (readOnly) return;  // xterm's disableStdin already drops keys; paste too
      if (exited) { restartAfterExit(); return; }  // the key only wakes us up
      send(frame(MSG.INPUT, bytes));
    }

    // Ctrl+Shift+C / Ctrl+Shift+V: the terminal's own copy/paste keys, since plain
    // Ctrl+C / Ctrl+V must reach the shell as ^C / ^V.
    function clipboardKeys(ev) {
      if (!ev.ctrlKey || !ev.shiftKey || ev.altKey || ev.metaKey) return true;
      var isCopy = ev.code === 'KeyC', isPaste = ev.code === 'KeyV';
      if (!isCopy && !isPaste) return true;
      if (ev.type !== 'keydown') return false;
      var clip = navigator.clipboard;
      if (isCopy) {
        ev.preventDefault();  // Chrome would open the element inspector
        if (term.hasSelection() && clip && clip.writeText) {
          clip.writeText(term.getSelection()).catch(function () {});
        }
      } else if (clip && clip.readText) {
        ev.preventDefault();  // we paste ourselves; avoid a second, native paste
        clip.readText().then(function (text) { if (text) term.paste(text); },
                             function () {});
      }
      // Without the clipboard API the browser's native paste event reaches
      // xterm's textarea and is handled like any other paste.
      return false;
    }

    function fitNow() {
      if (disposed || readOnly) return;  // a watcher's view has the learner's size
      try { fitAddon.fit(); } catch (e) { /* element hidden or not laid out yet */ }
    }
    function scheduleFit() {
      clearTimeout(fitTimer);
      fitTimer = setTimeout(fitNow, FIT_DEBOUNCE_MS);
    }

    term.onData(function (data) { onUserData(encoder.encode(data)); });
    term.onBinary(function (data) { onUserData(binaryStringToBytes(data)); });
    term.onResize(sendResize);
    term.attachCustomKeyEventHandler(clipboardKeys);

    window.addEventListener('resize', scheduleFit);
    var observer = window.ResizeObserver ? new ResizeObserver(scheduleFit) : null;
    if (observer) observer.observe(element);

    fitNow();
    onState('connecting', 'Connecting\u2026');
    connect();
    term.focus();

    var instance = {
      term: term,
      socket: function () { return ws; },
      run: function (text) { sendInput(text + '\r'); term.focus(); },
      interrupt: function () { sendInput('\x03'); term.focus(); },
      dispose: function () {
        disposed = true;
        clearTimeout(reconnectTimer);
        clearTimeout(ackTimer);
        clearTimeout(fitTimer);
        window.removeEventListener('resize', scheduleFit);
        if (observer) observer.disconnect();
        var old = ws;
        ws = null;
        if (old) old.close(1000);
        term.dispose();
        if (current === instance) current = null;
      }
    };
    current = instance;
    return instance;
  }

  // The page has one terminal; these let "run this command" buttons reach it
  // without holding on to the object mount() returned.
  var current = null;
  window.LabdeckTerminal = {
    mount: mount,
    run: function (text) { if (current) current.run(text); },
    interrupt: function () { if (current) current.interrupt(); }
  };
})();

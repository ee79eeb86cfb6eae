/**
 * The web page `serveWebSocket` serves at `/`: connect, send text, watch
 * echoes or broadcasts arrive. One HTML string with inline CSS and JS, no
 * build step and no external resources, so the compiled binary carries it
 * and a strict Content-Security-Policy (hashes, not `unsafe-inline`) allows it.
 *
 * @module
 */

import { createHash } from "node:crypto";

/**
 * Options for {@linkcode renderWsPage}.
 */
export interface WsPageOptions {
  /** The WebSocket path on the same host the page connects to. Default `/ws`. */
  path?: string;
  /** What the page says it is connected to, e.g. `echo` or `broadcast`. Default `echo`. */
  mode?: string;
}

const STYLE = `
:root { color-scheme: light dark; --bg: #f7f7f5; --fg: #1d1f21; --muted: #6b7075;
  --card: #ffffff; --line: #e2e2de; --accent: #2563eb; --in: #0f766e; --out: #7c3aed;
  --bad: #b91c1c; --ok: #15803d; --warn: #b45309; }
@media (prefers-color-scheme: dark) { :root { --bg: #16181b; --fg: #e6e6e3; --muted: #9aa0a6;
  --card: #1e2125; --line: #2e3238; --accent: #60a5fa; --in: #2dd4bf; --out: #c4b5fd;
  --bad: #f87171; --ok: #4ade80; --warn: #fbbf24; } }
* { box-sizing: border-box; }
body { margin: 0; font: 15px/1.45 system-ui, -apple-system, "Segoe UI", sans-serif;
  background: var(--bg); color: var(--fg); }
main { max-width: 52rem; margin: 0 auto; padding: 1.5rem 1rem 2rem;
  display: flex; flex-direction: column; gap: 1rem; min-height: 100vh; }
header { display: flex; align-items: center; gap: .75rem; flex-wrap: wrap; }
h1 { font-size: 1.25rem; margin: 0; font-weight: 650; letter-spacing: -.01em; }
h1 small { color: var(--muted); font-weight: 400; margin-left: .35rem; }
code, #log, input { font-family: ui-monospace, "SFMono-Regular", Menlo, Consolas, monospace; }
#url { color: var(--muted); font-size: .85rem; }
#state { margin-left: auto; padding: .15rem .6rem; border-radius: 999px; font-size: .8rem;
  font-weight: 600; border: 1px solid currentColor; white-space: nowrap; }
#state[data-state="connecting"] { color: var(--warn); }
#state[data-state="open"] { color: var(--ok); }
#state[data-state="closed"] { color: var(--bad); }
#log { flex: 1; list-style: none; margin: 0; padding: .5rem 0; background: var(--card);
  border: 1px solid var(--line); border-radius: .6rem; min-height: 18rem; max-height: 65vh;
  overflow-y: auto; font-size: .85rem; }
#log li { display: grid; grid-template-columns: 6.5rem 1.5rem 1fr; gap: .5rem;
  padding: .2rem .9rem; border-bottom: 1px solid var(--line); }
#log li:last-child { border-bottom: 0; }
#log time { color: var(--muted); }
#log .dir { text-align: center; font-weight: 700; }
#log .in .dir { color: var(--in); }
#log .out .dir { color: var(--out); }
#log .sys { color: var(--muted); font-style: italic; }
#log .err .text { color: var(--bad); }
#log .text { white-space: pre-wrap; word-break: break-word; }
form { display: flex; gap: .5rem; }
input { flex: 1; padding: .55rem .7rem; font-size: .95rem; border-radius: .5rem;
  border: 1px solid var(--line); background: var(--card); color: var(--fg); }
input:focus { outline: 2px solid var(--accent); outline-offset: -1px; }
button { padding: .55rem 1rem; border-radius: .5rem; border: 1px solid var(--accent);
  background: var(--accent); color: #fff; font-weight: 600; cursor: pointer; }
button.secondary { background: transparent; color: var(--accent); }
button:disabled { opacity: .45; cursor: default; }
footer { color: var(--muted); font-size: .8rem; }
`;

// Plain ES2020 for any current browser; no framework. `?autotest=TEXT`
// connects, sends TEXT once and records the first reply in #autotest, so a
// headless browser test can read the outcome from the DOM.
const SCRIPT = `
"use strict";
const meta = document.querySelector('meta[name="netkit-ws-path"]');
const path = meta ? meta.content : "/ws";
const url = (location.protocol === "https:" ? "wss://" : "ws://") + location.host + path;
const $ = (id) => document.getElementById(id);
const log = $("log"), state = $("state"), input = $("text"), send = $("send"),
  toggle = $("toggle"), auto = $("autotest");
const autotest = new URLSearchParams(location.search).get("autotest");
let socket = null;
$("url").textContent = url;
$("cli").textContent = "netkit ws connect " + url;

function stamp() {
  const d = new Date();
  const p = (n, w) => String(n).padStart(w, "0");
  return p(d.getHours(), 2) + ":" + p(d.getMinutes(), 2) + ":" + p(d.getSeconds(), 2) +
    "." + p(d.getMilliseconds(), 3);
}
function entry(kind, dir, text) {
  const li = document.createElement("li");
  li.className = kind;
  const t = document.createElement("time");
  t.textContent = stamp();
  const d = document.createElement("span");
  d.className = "dir";
  d.textContent = dir;
  const x = document.createElement("span");
  x.className = "text";
  x.textContent = text;
  li.append(t, d, x);
  const stick = log.scrollTop + log.clientHeight >= log.scrollHeight - 4;
  log.append(li);
  while (log.children.length > 1000) log.firstElementChild.remove();
  if (stick) log.scrollTop = log.scrollHeight;
}
function setState(name, detail) {
  state.dataset.state = name;
  state.textContent = detail ? name + " " + detail : name;
  const open = name === "open";
  send.disabled = !open;
  input.disabled = !open;
  toggle.textContent = name === "closed" ? "Connect" : "Disconnect";
  if (open) input.focus();
}
function hex(buffer) {
  const bytes = new Uint8Array(buffer);
  const shown = Array.from(bytes.subarray(0, 64), (b) => b.toString(16).padStart(2, "0"));
  return shown.join(" ") + (bytes.length > 64 ? " …" : "");
}
function connect() {
  setState("connecting");
  entry("sys", "•", "connecting to " + url);
  socket = new WebSocket(url);
  socket.binaryType = "arraybuffer";
  socket.onopen = () => {
    setState("open");
    entry("sys", "•", "open" + (socket.protocol ? " (protocol " + socket.protocol + ")" : ""));
    if (autotest !== null) {
      socket.send(autotest);
      entry("out", "→", autotest);
    }
  };
  socket.onmessage = (event) => {
    const text = typeof event.data === "string"
      ? event.data
      : "[binary " + event.data.byteLength + " bytes] " + hex(event.data);
    entry("in", "←", text);
    if (autotest !== null && auto.dataset.done !== "1") {
      auto.dataset.done = "1";
      auto.textContent = "autotest received: " + text;
    }
  };
  socket.onerror = () => entry("err", "!", "connection error");
  socket.onclose = (event) => {
    const why = event.code + (event.reason ? " " + event.reason : "") +
      (event.wasClean ? "" : " (unclean)");
    setState("closed", why);
    entry("sys", "•", "closed " + why);
    socket = null;
  };
}
$("form").addEventListener("submit", (event) => {
  event.preventDefault();
  if (!socket || socket.readyState !== WebSocket.OPEN || input.value === "") return;
  socket.send(input.value);
  entry("out", "→", input.value);
  input.value = "";
});
toggle.addEventListener("click", () => {
  if (socket) socket.close(1000, "bye");
  else connect();
});
connect();
`;

function sha256Base64(text: string): string {
  return createHash("sha256").update(text).digest("base64");
}

/**
 * The Content-Security-Policy the page is served with: only its own inline
 * script and style (by hash) and WebSocket connections to the same origin.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { WS_PAGE_CSP } from "@netkit/netkit/ws";
 *
 * assert.ok(WS_PAGE_CSP.includes("default-src 'none'"));
 * ```
 */
export const WS_PAGE_CSP: string = [
  "default-src 'none'",
  `script-src 'sha256-${sha256Base64(SCRIPT)}'`,
  `style-src 'sha256-${sha256Base64(STYLE)}'`,
  "connect-src 'self'",
  "base-uri 'none'",
  "form-action 'none'",
  "frame-ancestors 'none'",
].join("; ");

function escapeHtml(text: string): string {
  return text.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}

/**
 * Renders the page as one HTML string. Serve it with
 * {@linkcode WS_PAGE_CSP} as the `Content-Security-Policy` header.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { renderWsPage } from "@netkit/netkit/ws";
 *
 * const html = renderWsPage({ path: "/chat" });
 * assert.ok(html.includes('content="/chat"'));
 * ```
 */
export function renderWsPage(options: WsPageOptions = {}): string {
  const path = escapeHtml(options.path ?? "/ws");
  const mode = escapeHtml(options.mode ?? "echo");
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="netkit-ws-path" content="${path}">
<title>netkit ws · ${mode}</title>
<style>${STYLE}</style>
</head>
<body>
<main>
<header>
<h1>netkit ws<small>${mode}</small></h1>
<code id="url"></code>
<span id="state" data-state="connecting" role="status" aria-live="polite">connecting</span>
</header>
<ol id="log" aria-label="messages" aria-live="polite"></ol>
<form id="form" autocomplete="off">
<input id="text" placeholder="Type a message and press Enter" aria-label="message" disabled>
<button id="send" type="submit" disabled>Send</button>
<button id="toggle" type="button" class="secondary">Disconnect</button>
</form>
<output id="autotest"></output>
<footer>Served by netkit. From a terminal: <code id="cli">netkit ws connect ws://HOST:PORT${path}</code></footer>
</main>
<script>${SCRIPT}</script>
</body>
</html>
`;
}

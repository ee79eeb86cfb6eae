/**
 * Sequence diagrams: two columns (client and server), an arrow per packet
 * with its flags and numbers, each side's state written beside it when it
 * changes, and notes across both columns (a lab step, an annotation).
 * Records in, text or SVG/HTML out; no I/O.
 *
 * The text form fits a terminal width; the HTML form is one self-contained
 * page (inline SVG and style, a Content-Security-Policy that forbids any
 * fetch) that a person can open in a browser.
 *
 * Every text is passed through `escapeControl` (text) or escaped for XML
 * (SVG, HTML), so a label that carries a peer's bytes cannot drive the
 * terminal or break the page.
 *
 * @module
 */

import { escapeControl } from "../escape.ts";

/** Which column. */
export type SequenceSide = "client" | "server";

/** How an arrow is drawn: control packets, data, or something wrong. */
export type SequenceTone = "control" | "data" | "problem";

/** Each side's state after an item; a side left out did not change. */
export interface SequenceStates {
  /** The client's state. */
  client?: string;
  /** The server's state. */
  server?: string;
}

/** A packet: an arrow from one column to the other. */
export interface SequenceArrow {
  /** An arrow. */
  kind: "arrow";
  /** Milliseconds since the diagram's start. */
  tMs: number;
  /** The sender. */
  from: SequenceSide;
  /** Written on the arrow: flags, e.g. `SYN`, `SYN-ACK`, `ACK`, `FIN-ACK`, `RST`. */
  label: string;
  /** Written after the label: numbers, e.g. `seq 1:6 ack 1 win 65536`. */
  detail?: string;
  /** What it means (annotations), written under the arrow. */
  note?: string;
  /** When several connections share the columns: which one (`client 3`). */
  who?: string;
  /** How to draw it. Default `data`. */
  tone?: SequenceTone;
  /** States after it. */
  states?: SequenceStates;
}

/** A line across both columns: what happened, in words. */
export interface SequenceNote {
  /** A note. */
  kind: "note";
  /** Milliseconds since the diagram's start. */
  tMs: number;
  /** The text. */
  text: string;
  /** States after it. */
  states?: SequenceStates;
}

/** One item of a diagram. */
export type SequenceItem = SequenceArrow | SequenceNote;

/** A diagram to draw. */
export interface SequenceDiagram {
  /** A title (the HTML page's heading). */
  title?: string;
  /** The client column's heading. Default `client`. */
  client?: string;
  /** The server column's heading. Default `server`. */
  server?: string;
  /** The items, in time order. */
  items: SequenceItem[];
}

/** Options for {@linkcode sequenceText}. */
export interface SequenceTextOptions {
  /** Columns available; every line fits. Default 80, at least 30. */
  width?: number;
}

const STATE_WIDTH = 11;
const TIME_WIDTH = 8;
const MIN_ARROW = 14;

/**
 * The diagram as terminal text, every line at most `width` columns.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { sequenceText } from "@netkit/netkit/view";
 *
 * const lines = sequenceText({
 *   items: [
 *     { kind: "arrow", tMs: 0, from: "client", label: "SYN", detail: "seq 0",
 *       states: { client: "SYN_SENT", server: "LISTEN" } },
 *     { kind: "arrow", tMs: 0.1, from: "server", label: "SYN-ACK", detail: "seq 0 ack 1",
 *       states: { client: "ESTABLISHED", server: "SYN_RECV" } },
 *   ],
 * }, { width: 60 });
 * assert.ok(lines.every((l) => l.length <= 60));
 * assert.match(lines[1]!, /SYN_SENT +\|-+ SYN seq 0 -+>\| +LISTEN/);
 * assert.match(lines[2]!, /ESTABLISHED \|<-+ SYN-ACK seq 0 ack 1 -+\| +SYN_RECV/);
 * ```
 */
export function sequenceText(
  diagram: SequenceDiagram,
  options: SequenceTextOptions = {},
): string[] {
  const width = Math.max(30, Math.floor(options.width ?? 80));
  // Narrow terminals drop the time column, then shrink the state columns.
  let timeWidth = TIME_WIDTH;
  let stateWidth = STATE_WIDTH;
  const fixed = () => timeWidth + 2 * stateWidth + 4;
  if (width - fixed() < MIN_ARROW) timeWidth = 0;
  if (width - fixed() < MIN_ARROW) {
    stateWidth = Math.max(4, Math.floor((width - MIN_ARROW - 4) / 2));
  }
  const arrow = width - fixed();
  const lines: string[] = [];
  // The client's heading starts over its states, the server's ends the line.
  const half = Math.floor((width - timeWidth) / 2) - 1;
  const left = fit(diagram.client ?? "client", half);
  const right = fit(diagram.server ?? "server", half);
  lines.push(
    " ".repeat(timeWidth) + left +
      right.padStart(width - timeWidth - left.length),
  );
  let client: string | undefined;
  let server: string | undefined;
  const changed = (
    states: SequenceStates | undefined,
  ): [string, string] => {
    const c = states?.client !== undefined && states.client !== client
      ? states.client
      : "";
    const s = states?.server !== undefined && states.server !== server
      ? states.server
      : "";
    if (states?.client !== undefined) client = states.client;
    if (states?.server !== undefined) server = states.server;
    return [fit(c, stateWidth), fit(s, stateWidth)];
  };
  const time = (tMs: number) =>
    timeWidth === 0
      ? ""
      : fit(`+${(tMs / 1000).toFixed(3)}`, timeWidth - 1).padStart(
        timeWidth - 1,
      ) + " ";
  for (const item of diagram.items) {
    const [c, s] = changed(item.states);
    if (item.kind === "note") {
      const text = wrap(item.text, width - timeWidth - 2);
      text.forEach((t, i) =>
        lines.push(
          `${i === 0 ? time(item.tMs) : " ".repeat(timeWidth)}= ${t}`.trimEnd(),
        )
      );
      if (c || s) {
        lines.push(
          (" ".repeat(timeWidth) + c.padEnd(stateWidth) + "  " +
            " ".repeat(arrow) + s.padStart(stateWidth)).trimEnd(),
        );
      }
      continue;
    }
    const label = [
      item.who ? `${item.who}:` : "",
      item.label,
      item.detail ?? "",
    ]
      .filter((x) => x !== "").join(" ");
    lines.push(
      (time(item.tMs) + c.padEnd(stateWidth) + " " +
        drawArrow(label, item.from, arrow + 2) + " " + s.padEnd(stateWidth))
        .trimEnd(),
    );
    if (item.note) {
      for (const t of wrap(item.note, arrow - 2)) {
        lines.push(
          (" ".repeat(timeWidth + stateWidth + 1) + "|  " + t).trimEnd(),
        );
      }
    }
  }
  return lines;
}

/** `|--- label --->|` or `|<--- label ---|`, exactly `size` columns. */
function drawArrow(label: string, from: SequenceSide, size: number): string {
  const inner = size - 2;
  const text = fit(label, inner - 6);
  const dashes = inner - text.length - 2;
  if (from === "client") {
    const left = 3;
    return `|${"-".repeat(left - 1)} ${text} ${
      "-".repeat(Math.max(0, dashes - left))
    }>|`;
  }
  const right = 3;
  return `|<${"-".repeat(Math.max(0, dashes - right))} ${text} ${
    "-".repeat(right - 1)
  }|`;
}

function fit(text: string, width: number): string {
  if (width <= 0) return "";
  const safe = escapeControl(text);
  return safe.length <= width ? safe : `${safe.slice(0, width - 1)}~`;
}

/** Words wrapped to `width` columns; a word longer than that is cut. */
function wrap(text: string, width: number): string[] {
  const w = Math.max(8, width);
  const lines: string[] = [];
  let line = "";
  for (const word of text.split(/\s+/)) {
    if (word === "") continue;
    const piece = fit(word, w);
    if (line === "") line = piece;
    else if (line.length + 1 + piece.length <= w) line += ` ${piece}`;
    else {
      lines.push(line);
      line = piece;
    }
  }
  if (line !== "" || lines.length === 0) lines.push(line);
  return lines;
}

/** Options for {@linkcode sequenceSvg} and {@linkcode sequenceHtml}. */
export interface SequenceSvgOptions {
  /** Drawing width in CSS pixels. Default 960. */
  width?: number;
}

const ROW = 30;
/** Width of one character of the 12 px monospace font, with a margin. */
const CHAR_PX = 7.4;
const NOTE_LINE = 16;
const COLORS: Record<SequenceTone, string> = {
  control: "#1f5fa8",
  data: "#333333",
  problem: "#c0392b",
};

/**
 * The diagram as an SVG element (a string). Each arrow is a
 * `<g class="arrow TONE">` with `data-from`, `data-label` and a `<title>`
 * tooltip; each note a `<g class="note">`; each state a `<text class="state">`.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { sequenceSvg } from "@netkit/netkit/view";
 *
 * const svg = sequenceSvg({
 *   items: [{ kind: "arrow", tMs: 0, from: "client", label: "SYN", tone: "control" }],
 * });
 * assert.match(svg, /^<svg /);
 * assert.equal(svg.match(/<g class="arrow control" data-from="client"/g)?.length, 1);
 * ```
 */
export function sequenceSvg(
  diagram: SequenceDiagram,
  options: SequenceSvgOptions = {},
): string {
  const width = Math.max(480, options.width ?? 960);
  const left = Math.round(width * 0.27);
  const right = Math.round(width * 0.8);
  const textChars = Math.floor((right - left - 20) / CHAR_PX);
  const parts: string[] = [];
  let y = 56;
  let client: string | undefined;
  let server: string | undefined;
  const state = (states: SequenceStates | undefined, at: number) => {
    if (states?.client !== undefined && states.client !== client) {
      client = states.client;
      parts.push(
        `<text class="state" data-side="client" x="${
          left - 10
        }" y="${at}" text-anchor="end">${xml(client)}</text>`,
      );
    }
    if (states?.server !== undefined && states.server !== server) {
      server = states.server;
      parts.push(
        `<text class="state" data-side="server" x="${right + 10}" y="${at}">${
          xml(server)
        }</text>`,
      );
    }
  };
  for (const item of diagram.items) {
    const t = `<text class="time" x="8" y="${y + 4}">+${
      (item.tMs / 1000).toFixed(3)
    } s</text>`;
    if (item.kind === "note") {
      const lines = wrap(item.text, Math.floor((width - 110) / CHAR_PX));
      parts.push(
        `<g class="note">${t}<rect x="90" y="${y - 9}" width="${
          width - 100
        }" height="${lines.length * NOTE_LINE + 2}" rx="3" fill="#fdf6e3"/>${
          lines.map((l, i) =>
            `<text x="96" y="${y + 4 + i * NOTE_LINE}">${xml(l)}</text>`
          ).join("")
        }</g>`,
      );
      state(item.states, y + 4 + (lines.length - 1) * NOTE_LINE + NOTE_LINE);
      y += lines.length * NOTE_LINE + (item.states ? NOTE_LINE : 0) + 10;
      continue;
    }
    const tone = item.tone ?? "data";
    const [x1, x2] = item.from === "client" ? [left, right] : [right, left];
    const label = [
      item.who ? `${item.who}:` : "",
      item.label,
      item.detail ?? "",
    ]
      .filter((x) => x !== "").join(" ");
    const noteLines = item.note ? wrap(item.note, textChars) : [];
    const title = [label, item.note ?? ""].filter((x) => x !== "").join(" - ");
    parts.push(
      `<g class="arrow ${tone}" data-from="${item.from}" data-label="${
        xml(item.label)
      }"><title>${xml(title)}</title>${t}<text class="label" x="${
        (left + right) / 2
      }" y="${y}" text-anchor="middle">${
        xml(fit(label, textChars))
      }</text><line x1="${x1}" y1="${y + 6}" x2="${x2}" y2="${
        y + 14
      }" stroke="${COLORS[tone]}" marker-end="url(#head-${tone})"/>${
        noteLines.map((l, i) =>
          `<text class="detail" x="${(left + right) / 2}" y="${
            y + 28 + i * NOTE_LINE
          }" text-anchor="middle">${xml(l)}</text>`
        ).join("")
      }</g>`,
    );
    state(item.states, y + 14);
    y += ROW + noteLines.length * NOTE_LINE;
  }
  const height = y + 20;
  const markers = (Object.keys(COLORS) as SequenceTone[]).map((tone) =>
    `<marker id="head-${tone}" viewBox="0 0 10 10" refX="10" refY="5" markerWidth="8" markerHeight="8" orient="auto-start-reverse"><path d="M0,0 L10,5 L0,10 z" fill="${
      COLORS[tone]
    }"/></marker>`
  ).join("");
  return `<svg xmlns="http://www.w3.org/2000/svg" class="sequence" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" font-family="ui-monospace, Menlo, Consolas, monospace" font-size="12"><defs>${markers}</defs><text class="column" x="${left}" y="24" text-anchor="middle" font-weight="bold">${
    xml(diagram.client ?? "client")
  }</text><text class="column" x="${right}" y="24" text-anchor="middle" font-weight="bold">${
    xml(diagram.server ?? "server")
  }</text><line class="lifeline" x1="${left}" y1="32" x2="${left}" y2="${
    height - 8
  }" stroke="#999"/><line class="lifeline" x1="${right}" y1="32" x2="${right}" y2="${
    height - 8
  }" stroke="#999"/>${parts.join("")}</svg>`;
}

/**
 * The diagram as a whole HTML page: inline SVG and style, nothing fetched
 * (its Content-Security-Policy forbids it).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { sequenceHtml } from "@netkit/netkit/view";
 *
 * const page = sequenceHtml({ title: "a <trace>", items: [] });
 * assert.match(page, /^<!doctype html>/);
 * assert.match(page, /<h1>a &lt;trace&gt;<\/h1>/);
 * assert.doesNotMatch(page, /src=|href=/);
 * ```
 */
export function sequenceHtml(
  diagram: SequenceDiagram,
  options: SequenceSvgOptions = {},
): string {
  const title = diagram.title ?? "sequence diagram";
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta http-equiv="Content-Security-Policy" content="default-src 'none'; style-src 'unsafe-inline'">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>${xml(title)}</title>
<style>
body { font-family: system-ui, sans-serif; margin: 1.5rem; color: #222; background: #fff; }
h1 { font-size: 1.2rem; }
svg.sequence { max-width: 100%; height: auto; }
svg text { fill: #222; }
svg .time { fill: #777; }
svg .state { fill: #6a3d9a; font-weight: bold; }
svg .note text { fill: #444; font-style: italic; }
svg .problem .label, svg .problem .detail { fill: #c0392b; }
svg .control .label { fill: #1f5fa8; }
svg .detail { fill: #555; }
</style>
</head>
<body>
<h1>${xml(title)}</h1>
${sequenceSvg(diagram, options)}
</body>
</html>
`;
}

/** Text made safe inside XML and HTML (element content and attribute values). */
function xml(text: string): string {
  return escapeControl(text).replace(
    /[&<>"']/g,
    (c) =>
      c === "&"
        ? "&amp;"
        : c === "<"
        ? "&lt;"
        : c === ">"
        ? "&gt;"
        : c === '"'
        ? "&quot;"
        : "&#39;",
  );
}

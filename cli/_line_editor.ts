// The line editor of interactive clients (`ws connect` on a terminal),
// as readline keeps it: the terminal is put in cbreak mode (no echo, no
// line buffering, Ctrl-C still a signal) so the program knows what is
// being typed and can redraw it after printing a message that arrived
// meanwhile. In the kernel's own line mode the typed text stays in the
// terminal's buffer, invisible to the program: a message printed over it
// wiped it from the screen, yet Enter still sent it.
//
// LineEditor is the core (bytes typed in, text to show and lines out, no
// I/O); terminalLines drives it on stdin and stderr.

import type { LineSource } from "./_lines.ts";

/** What typing some bytes did. */
export interface EditResult {
  /** Text to write to the terminal (echo, redraws, the next prompt). */
  output: string;
  /** Lines completed by Enter, in order. */
  lines: string[];
  /** Ctrl-D on an empty line: the end of input. */
  eof: boolean;
}

/** Erases the terminal line the cursor is on and returns to its start. */
export const CLEAR_LINE = "\r\x1b[K";

const ESC = 0x1b;

/** The editing core: a prompt, the text typed so far and a history. */
export class LineEditor {
  readonly prompt: string;
  #text = "";
  #decoder = new TextDecoder();
  #escape: "" | "esc" | "csi" | "ss3" = "";
  #afterCr = false;
  #history: string[] = [];
  #recall = 0;

  constructor(prompt = "> ") {
    this.prompt = prompt;
  }

  /** What has been typed on the current line. */
  get text(): string {
    return this.#text;
  }

  /** The current line as the terminal should show it. */
  render(): string {
    return this.prompt + this.#text;
  }

  /** Takes bytes typed on the terminal. */
  feed(bytes: Uint8Array): EditResult {
    const result: EditResult = { output: "", lines: [], eof: false };
    // Control bytes and escape sequences are ASCII, so they can be taken
    // out before decoding; runs of other bytes are text (UTF-8, maybe cut
    // mid-character between reads: the decoder keeps the rest).
    let start = 0;
    const flushText = (end: number) => {
      if (end > start) this.#insert(bytes.subarray(start, end), result);
      start = end;
    };
    for (let i = 0; i < bytes.length; i++) {
      const b = bytes[i]!;
      if (this.#escape !== "" || b < 0x20 || b === 0x7f) {
        flushText(i);
        this.#control(b, result);
        start = i + 1;
        if (result.eof) return result;
      }
    }
    flushText(bytes.length);
    return result;
  }

  #insert(bytes: Uint8Array, result: EditResult) {
    this.#afterCr = false;
    const text = this.#decoder.decode(bytes, { stream: true });
    this.#text += text;
    result.output += text;
  }

  #control(b: number, result: EditResult) {
    const wasCr = this.#afterCr;
    this.#afterCr = false;
    switch (this.#escape) {
      case "esc":
        // ESC [ … and ESC O x are keys (arrows, Home, F1); other pairs
        // (Alt+key) are dropped whole.
        this.#escape = b === 0x5b ? "csi" : b === 0x4f ? "ss3" : "";
        return;
      case "csi":
        if (b >= 0x40 && b <= 0x7e) {
          this.#escape = "";
          if (b === 0x41) this.#recallLine(-1, result); // up
          if (b === 0x42) this.#recallLine(1, result); // down
        }
        return;
      case "ss3":
        this.#escape = "";
        if (b === 0x41) this.#recallLine(-1, result);
        if (b === 0x42) this.#recallLine(1, result);
        return;
    }
    switch (b) {
      case ESC:
        this.#escape = "esc";
        return;
      case 0x0d: // Enter in a raw terminal
      case 0x0a: // Enter when the terminal maps CR to NL, or a pasted LF
        if (b === 0x0a && wasCr) return; // CR LF is one Enter
        this.#afterCr = b === 0x0d;
        this.#enter(result);
        return;
      case 0x7f: // Backspace (DEL)
      case 0x08: // Ctrl-H
        this.#replace([...this.#text].slice(0, -1).join(""), result);
        return;
      case 0x15: // Ctrl-U: the whole line
        this.#replace("", result);
        return;
      case 0x17: // Ctrl-W: the word before the cursor
        this.#replace(this.#text.replace(/\S*\s*$/, ""), result);
        return;
      case 0x0c: // Ctrl-L: clear the screen, keep the line
        result.output += "\x1b[H\x1b[2J" + this.render();
        return;
      case 0x04: // Ctrl-D: the end of input on an empty line
        if (this.#text === "") result.eof = true;
        return;
      case 0x09: // Tab: typed as is
        this.#text += "\t";
        result.output += "\t";
        return;
    }
    // Any other control key does nothing.
  }

  #enter(result: EditResult) {
    this.#text += this.#decoder.decode();
    const line = this.#text;
    result.lines.push(line);
    if (line !== "" && this.#history.at(-1) !== line) this.#history.push(line);
    if (this.#history.length > 500) this.#history.shift();
    this.#recall = this.#history.length;
    this.#text = "";
    // "\n" alone: the terminal keeps output processing (NL to CR NL).
    result.output += "\n" + this.prompt;
  }

  #recallLine(step: number, result: EditResult) {
    const at = this.#recall + step;
    if (at < 0 || at > this.#history.length) return;
    this.#recall = at;
    this.#replace(this.#history[at] ?? "", result);
  }

  #replace(text: string, result: EditResult) {
    this.#text = text;
    result.output += CLEAR_LINE + this.render();
  }
}

/** Standard input as lines typed on a terminal, with the editor's redraw. */
export interface TerminalLines extends LineSource {
  /**
   * Prints something (a received message, a log line) above the line
   * being typed: the line is cleared, `write` runs, and the prompt and the
   * typed text are drawn again below.
   */
  above(write: () => void): void;
  /** Shows the prompt and starts taking keys (once connected). */
  start(): void;
  /** Puts the terminal back as it was (also done at exit). */
  restore(): void;
}

/**
 * Reads stdin (a terminal) in cbreak mode through a {@linkcode LineEditor}
 * and draws on stderr (a terminal).
 */
export function terminalLines(prompt = "> "): TerminalLines {
  const editor = new LineEditor(prompt);
  const ready: string[] = [];
  let eof = false;
  let started = false;
  let raw = false;
  let wake = Promise.withResolvers<void>();
  const draw = (text: string) => writeStderr(text);
  const restore = () => {
    if (!raw) return;
    raw = false;
    try {
      Deno.stdin.setRaw(false);
    } catch {
      // stdin is gone: nothing to restore.
    }
  };
  // A second Ctrl-C exits at once (Deno.exit): the terminal must not stay
  // in cbreak mode behind the shell.
  globalThis.addEventListener("unload", restore);
  const pump = async () => {
    const buf = new Uint8Array(4096);
    for (;;) {
      let n: number | null;
      try {
        n = await Deno.stdin.read(buf);
      } catch {
        n = null;
      }
      const result = n === null
        ? { output: "", lines: [], eof: true }
        : editor.feed(buf.subarray(0, n));
      if (result.output) draw(result.output);
      ready.push(...result.lines);
      if (result.eof) eof = true;
      wake.resolve();
      wake = Promise.withResolvers();
      if (eof) {
        draw(CLEAR_LINE);
        return;
      }
    }
  };
  const encoder = new TextEncoder();
  return {
    start() {
      if (started) return;
      started = true;
      Deno.stdin.setRaw(true, { cbreak: true });
      raw = true;
      draw(editor.render());
      void pump();
    },
    above(write) {
      if (!started || eof) return write();
      draw(CLEAR_LINE);
      write();
      draw(editor.render());
    },
    restore,
    async peek() {
      while (ready.length === 0 && !eof) await wake.promise;
      const line = ready[0];
      return line === undefined ? null : encoder.encode(line);
    },
    take() {
      ready.shift();
    },
    get ended() {
      return eof && ready.length === 0;
    },
    hasPending() {
      return ready.length > 0;
    },
  };
}

function writeStderr(text: string): void {
  const bytes = new TextEncoder().encode(text);
  let off = 0;
  while (off < bytes.length) off += Deno.stderr.writeSync(bytes.subarray(off));
}

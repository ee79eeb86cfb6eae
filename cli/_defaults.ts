// Every default the command line applies, in one place: help screens
// print these values and the commands pass them to the library explicitly,
// so what --help says is what runs. Durations in milliseconds, sizes in
// bytes (the CLI converts flags to these units once, in cli/_units.ts).

/** The port each server binds unless `--port` says otherwise. */
export const DEFAULT_PORTS = {
  /** `echo serve`: TCP and UDP. */
  echo: 7007,
  /** `file recv` (the file-transfer protocol's port, FILE_DEFAULT_PORT). */
  file: 7070,
  /** `ws serve`. */
  ws: 8080,
} as const;

/** Servers bind loopback unless `--host` says otherwise. */
export const DEFAULT_HOST = "127.0.0.1";

/** `--grace`: how long SIGINT/SIGTERM lets open connections finish. */
export const DEFAULT_GRACE_MS = 5000;

/** `--backlog`: the listen(2) backlog (the accept loop's default). */
export const DEFAULT_BACKLOG = 511;

/** Time limits of the clients and the servers' idle timeouts. */
export const DEFAULT_TIMEOUTS = {
  /** `echo connect --udp`: wait for the last replies after stdin ends. */
  echoUdpReplyMs: 1000,
  /** `echo ping --timeout`: a probe without a reply within this is lost. */
  pingReplyMs: 2000,
  /** `echo ping --interval`: time between probes. */
  pingIntervalMs: 1000,
  /** `file send --timeout`: give up after this long without progress. */
  fileSendMs: 60_000,
  /** `file recv --auth-timeout`: connect to valid token proof. */
  fileAuthMs: 10_000,
  /** `file recv --idle-timeout`. */
  fileIdleMs: 30_000,
  /** `ws connect --timeout`: the opening handshake. */
  wsHandshakeMs: 10_000,
  /** `ws connect --wait`: quiet time after stdin ends before closing. */
  wsWaitMs: 1000,
  /** `ws connect --reconnect-max-delay`. */
  wsReconnectMaxDelayMs: 30_000,
  /** `ws serve --idle-timeout` (ping after half of it). */
  wsIdleMs: 30_000,
  /** `ws verify --timeout` and `ws check --timeout`: per step or case. */
  wsCheckMs: 5000,
  /** `relay --connect-timeout`: connect, proxy and TLS handshakes. */
  relayConnectMs: 10_000,
  /** `relay udp://`: a UDP session ends after this long silent. */
  relayUdpIdleMs: 60_000,
  /** `load --timeout`: an unanswered request or connect. */
  loadRequestMs: 2000,
  /** `load --duration`: time measured. */
  loadDurationMs: 10_000,
  /** `tcp states --watch` / `tcp limits --watch`: time between frames. */
  watchIntervalMs: 1000,
} as const;

/** Counts and sizes shown in help and passed explicitly. */
export const DEFAULT_LIMITS = {
  /** `echo ping --count`. */
  pingCount: 5,
  /** `echo ping --size`: bytes per probe. */
  pingSize: 64,
  /** `file recv --max-pending`: connections waiting to authenticate. */
  fileMaxPending: 64,
  /** `file recv --max-files`: files and folders per session. */
  fileMaxFiles: 100_000,
  /** `file recv --code-attempts`: wrong codes before the code ends. */
  fileCodeAttempts: 3,
  /** `ws serve --max-message`. */
  wsMaxMessage: 16 * 1024 * 1024,
  /** `relay --max-conns` for udp:// (UDP sessions). */
  relayUdpSessions: 1024,
  /** `relay --max-programs`: exec: programs running at once. */
  relayMaxPrograms: 64,
  /** `relay --buffer`: each direction's buffer. */
  relayBuffer: 256 * 1024,
  /** `relay --hexdump`: bytes dumped per direction. */
  relayHexdump: 1024,
  /** `load --conns`. */
  loadConns: 10,
  /** `load --size` in echo mode (stream modes: `loadStreamSize`). */
  loadSize: 64,
  /** `load --size` in stream, sink, reverse and bidir modes. */
  loadStreamSize: 64 * 1024,
} as const;

/** `netkit serve`: the folder the file receiver stores into. */
export const DEFAULT_SERVE_DIR = "./received";

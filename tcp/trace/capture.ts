/**
 * The packet capture: a raw `AF_PACKET` socket on one interface, read
 * through libc with the runtime's FFI (as `tcp/proc/sock_diag.ts` reads
 * netlink). It is a thin driver: one reused frame buffer, a kernel receive
 * buffer of bounded size, an optional kernel filter (BPF) for one port,
 * kernel timestamps, and nothing kept per packet. Decoding is
 * {@linkcode decodeFrame}'s job.
 *
 * Needs Linux, root or CAP_NET_RAW, and `--allow-ffi` (`--allow-all`
 * includes it). On loopback every packet passes the tap twice (going out
 * and coming in); as libpcap does, only the incoming copy is kept.
 *
 * @module
 */

import { TcpError } from "../errors.ts";
import { assertLinux } from "../../_proc.ts";
import { errorMessage } from "../../_io.ts";
import { acceptAll, portFilter } from "./_bpf.ts";
import { DEFAULT_SNAPLEN, type PcapTime } from "./pcap.ts";
import type { LinkType } from "./types.ts";

/** Options for {@linkcode openCapture}. */
export interface CaptureOptions {
  /** The interface to capture on. Default `lo`. */
  interface?: string;
  /** Keep only TCP and UDP packets with this port at either end (filtered in the kernel). */
  port?: number;
  /** Bytes kept of each frame. Default 262144 (tcpdump's); at least 96. */
  snaplen?: number;
  /** The kernel's receive buffer for the socket, bytes. Default 32 MiB, at most 256 MiB. */
  bufferBytes?: number;
}

/** One captured frame. `frame` is a view into a reused buffer, valid until the next read. */
export interface CapturedFrame extends PcapTime {
  /** The bytes kept (at most the snap length). */
  frame: Uint8Array;
  /** The frame's length on the wire. */
  wireLength: number;
  /** The kernel's timestamp, ms since the epoch. */
  timeMs: number;
}

/** The kernel's counts for the socket (`PACKET_STATISTICS`), since it opened. */
export interface CaptureStats {
  /** Packets the socket received (both loopback copies count). */
  received: number;
  /** Packets dropped because the receive buffer was full. */
  dropped: number;
}

/** An open capture; close it (or `await using`) to free the socket. */
export interface PacketCapture extends AsyncDisposable {
  /** The interface it reads. */
  readonly interface: string;
  /** The link type of its frames (for a pcap file header and the decoder). */
  readonly linkType: LinkType;
  /** The snap length. */
  readonly snaplen: number;
  /**
   * Reads the frames waiting now, without waiting, and hands each to
   * `onFrame` (the bytes are reused once it returns). Stops after `max`
   * frames, or after a frame for which `onFrame` returns `false`. Returns
   * how many were handed over.
   */
  drain(
    onFrame: (frame: CapturedFrame) => boolean | void,
    max?: number,
  ): number;
  /** Waits, off the main thread, until a frame is waiting (true) or `timeoutMs` passed (false). */
  wait(timeoutMs: number): Promise<boolean>;
  /** The kernel's counts so far. */
  stats(): CaptureStats;
  /** Closes the socket; waits for a pending {@linkcode PacketCapture.wait} first. */
  close(): Promise<void>;
}

const AF_PACKET = 17;
const SOCK_RAW = 3;
const SOCK_DGRAM = 2;
const SOCK_CLOEXEC = 0o2000000;
const ETH_P_ALL_BE = 0x0300; // htons(0x0003) as little-endian memory
const SOL_SOCKET = 1;
const SOL_PACKET = 263;
const SO_RCVBUF = 8;
const SO_RCVBUFFORCE = 33;
const SO_ATTACH_FILTER = 26;
const SO_TIMESTAMPNS = 35;
const PACKET_STATISTICS = 6;
const PACKET_OUTGOING = 4;
const ARPHRD_ETHER = 1;
const ARPHRD_LOOPBACK = 772;
const MSG_TRUNC = 0x20;
const MSG_DONTWAIT = 0x40;
const POLLIN = 1;
const EINTR = 4;
const EAGAIN = 11;
const EPERM = 1;
const EACCES = 13;
const DEFAULT_BUFFER = 32 * 1024 * 1024;
const MAX_BUFFER = 256 * 1024 * 1024;
/** What one drain() takes at most when the caller sets no limit: the event loop must breathe. */
const DRAIN_BATCH = 4096;

const SYMBOLS = {
  socket: { parameters: ["i32", "i32", "i32"], result: "i32" },
  bind: { parameters: ["i32", "buffer", "u32"], result: "i32" },
  setsockopt: {
    parameters: ["i32", "i32", "i32", "buffer", "u32"],
    result: "i32",
  },
  getsockopt: {
    parameters: ["i32", "i32", "i32", "buffer", "buffer"],
    result: "i32",
  },
  recvmsg: { parameters: ["i32", "buffer", "i32"], result: "isize" },
  poll: {
    parameters: ["buffer", "u64", "i32"],
    result: "i32",
    nonblocking: true,
  },
  if_nametoindex: { parameters: ["buffer"], result: "u32" },
  close: { parameters: ["i32"], result: "i32" },
  __errno_location: { parameters: [], result: "pointer" },
} as const;

type Libc = Deno.DynamicLibrary<typeof SYMBOLS>;

/**
 * Opens a packet socket on an interface. Throws a {@linkcode TcpError}:
 * `capture_denied` without root or CAP_NET_RAW, `capture_failed` when
 * FFI is not allowed, the interface does not exist or the kernel refuses,
 * `unsupported_os` off Linux.
 *
 * @example Capture the packets of one connection on loopback (root)
 * ```ts ignore
 * import { decodeFrame, openCapture } from "@netkit/netkit/tcp/trace";
 *
 * await using capture = openCapture({ interface: "lo", port: 8080 });
 * while (await capture.wait(100) || true) {
 *   capture.drain((f) => console.log(decodeFrame(f.frame, { linkType: capture.linkType })));
 * }
 * ```
 */
export function openCapture(options: CaptureOptions = {}): PacketCapture {
  assertLinux("packet capture");
  const name = options.interface ?? "lo";
  const snaplen = Math.max(
    96,
    Math.min(options.snaplen ?? DEFAULT_SNAPLEN, DEFAULT_SNAPLEN),
  );
  let lib: Libc;
  try {
    lib = Deno.dlopen("libc.so.6", SYMBOLS);
  } catch (error) {
    throw new TcpError(
      "capture_failed",
      `packet capture calls libc through FFI and could not: ${
        errorMessage(error)
      } (run with --allow-ffi or --allow-all)`,
      { cause: error },
    );
  }
  const libc = lib.symbols;
  const errno = () =>
    new Deno.UnsafePointerView(libc.__errno_location()!).getInt32();
  let fd = -1;
  try {
    const ifindex = libc.if_nametoindex(cString(name));
    if (ifindex === 0) {
      throw new TcpError("capture_failed", `no network interface '${name}'`);
    }
    const hatype = interfaceType(name);
    const linkType: LinkType = hatype === ARPHRD_ETHER ||
        hatype === ARPHRD_LOOPBACK
      ? 1
      : 101;
    // Protocol 0: the socket receives nothing until bind() names one, so
    // no packet of another interface slips in before the filter is set.
    fd = libc.socket(
      AF_PACKET,
      (linkType === 1 ? SOCK_RAW : SOCK_DGRAM) | SOCK_CLOEXEC,
      0,
    );
    if (fd < 0) {
      const e = errno();
      if (e === EPERM || e === EACCES) {
        throw new TcpError(
          "capture_denied",
          "packet capture needs root or CAP_NET_RAW (run as root, or give deno the capability: setcap cap_net_raw+ep $(which deno))",
        );
      }
      throw new TcpError(
        "capture_failed",
        `cannot open a packet socket (errno ${e})`,
      );
    }
    setInt(libc, fd, SOL_SOCKET, SO_TIMESTAMPNS, 1);
    const buffer = Math.min(options.bufferBytes ?? DEFAULT_BUFFER, MAX_BUFFER);
    // FORCE passes net.core.rmem_max with CAP_NET_ADMIN; without it the
    // plain option takes what the sysctl allows.
    if (setInt(libc, fd, SOL_SOCKET, SO_RCVBUFFORCE, buffer) !== 0) {
      setInt(libc, fd, SOL_SOCKET, SO_RCVBUF, buffer);
    }
    const program = options.port === undefined
      ? acceptAll(snaplen)
      : portFilter(options.port, snaplen, linkType === 1 ? 14 : 0);
    const fprog = new Uint8Array(16);
    const fv = new DataView(fprog.buffer);
    fv.setUint16(0, program.length / 8, true);
    fv.setBigUint64(8, pointerValue(program), true);
    if (libc.setsockopt(fd, SOL_SOCKET, SO_ATTACH_FILTER, fprog, 16) !== 0) {
      throw new TcpError(
        "capture_failed",
        `the kernel refused the packet filter (errno ${errno()})`,
      );
    }
    const sll = new Uint8Array(20);
    const sv = new DataView(sll.buffer);
    sv.setUint16(0, AF_PACKET, true);
    sv.setUint16(2, ETH_P_ALL_BE, true);
    sv.setInt32(4, ifindex, true);
    if (libc.bind(fd, sll, sll.length) !== 0) {
      throw new TcpError(
        "capture_failed",
        `cannot bind the packet socket to '${name}' (errno ${errno()})`,
      );
    }
    return driver(lib, fd, name, linkType, snaplen, errno);
  } catch (error) {
    if (fd >= 0) libc.close(fd);
    lib.close();
    throw error;
  }
}

function driver(
  lib: Libc,
  fd: number,
  name: string,
  linkType: LinkType,
  snaplen: number,
  errno: () => number,
): PacketCapture {
  const libc = lib.symbols;
  // One set of buffers for the socket's life; recvmsg() writes into them.
  const frame = new Uint8Array(snaplen);
  const address = new Uint8Array(20);
  const control = new Uint8Array(64);
  const iov = new Uint8Array(16);
  const msg = new Uint8Array(56);
  const iv = new DataView(iov.buffer);
  iv.setBigUint64(0, pointerValue(frame), true);
  iv.setBigUint64(8, BigInt(frame.length), true);
  const mv = new DataView(msg.buffer);
  mv.setBigUint64(0, pointerValue(address), true);
  mv.setBigUint64(16, pointerValue(iov), true);
  mv.setBigUint64(24, 1n, true);
  mv.setBigUint64(32, pointerValue(control), true);
  const av = new DataView(address.buffer);
  const cv = new DataView(control.buffer);
  const pollfd = new Uint8Array(8);
  new DataView(pollfd.buffer).setInt32(0, fd, true);
  new DataView(pollfd.buffer).setInt16(4, POLLIN, true);
  const statsBuf = new Uint8Array(8);
  const statsLen = new Uint8Array(4);
  let received = 0;
  let dropped = 0;
  let closed = false;
  let pending: Promise<unknown> | undefined;
  const out: CapturedFrame = {
    frame,
    wireLength: 0,
    seconds: 0,
    nanoseconds: 0,
    timeMs: 0,
  };

  function readStats(): void {
    if (closed) return;
    new DataView(statsLen.buffer).setUint32(0, 8, true);
    if (
      libc.getsockopt(fd, SOL_PACKET, PACKET_STATISTICS, statsBuf, statsLen) ===
        0
    ) {
      // The kernel resets its counts on every read: add them up.
      const v = new DataView(statsBuf.buffer);
      received += v.getUint32(0, true);
      dropped += v.getUint32(4, true);
    }
  }

  return {
    interface: name,
    linkType,
    snaplen,
    drain(onFrame, max = DRAIN_BATCH) {
      let n = 0;
      while (!closed && n < max) {
        mv.setUint32(8, address.length, true);
        mv.setBigUint64(40, BigInt(control.length), true);
        mv.setInt32(48, 0, true);
        const got = Number(libc.recvmsg(fd, msg, MSG_DONTWAIT | MSG_TRUNC));
        if (got < 0) {
          const e = errno();
          if (e === EINTR) continue;
          if (e === EAGAIN) break;
          throw new TcpError(
            "capture_failed",
            `reading packets on '${name}' failed (errno ${e})`,
          );
        }
        const hatype = av.getUint16(8, true);
        if (address[10] === PACKET_OUTGOING && hatype === ARPHRD_LOOPBACK) {
          continue;
        }
        timestamp(cv, Number(mv.getBigUint64(40, true)), out);
        out.wireLength = got;
        out.frame = frame.subarray(0, Math.min(got, frame.length));
        n++;
        if (onFrame(out) === false) break;
      }
      return n;
    },
    async wait(timeoutMs) {
      if (closed) return false;
      const polling = libc.poll(pollfd, 1n, Math.max(0, Math.round(timeoutMs)));
      pending = polling;
      try {
        return (await polling) > 0;
      } finally {
        pending = undefined;
      }
    },
    stats() {
      readStats();
      return { received, dropped };
    },
    async close() {
      if (closed) return;
      readStats();
      closed = true;
      // A poll() still running on its thread uses the library: wait for it.
      await pending?.catch(() => {});
      libc.close(fd);
      lib.close();
    },
    [Symbol.asyncDispose]() {
      return this.close();
    },
  };
}

/** The SCM_TIMESTAMPNS control message, or the clock now when there is none. */
function timestamp(cv: DataView, length: number, out: CapturedFrame): void {
  if (
    length >= 32 && cv.getInt32(8, true) === SOL_SOCKET &&
    cv.getInt32(12, true) === SO_TIMESTAMPNS
  ) {
    out.seconds = Number(cv.getBigInt64(16, true));
    out.nanoseconds = Number(cv.getBigInt64(24, true));
  } else {
    const now = performance.timeOrigin + performance.now();
    out.seconds = Math.floor(now / 1000);
    out.nanoseconds = Math.floor((now % 1000) * 1e6);
  }
  out.timeMs = out.seconds * 1000 + out.nanoseconds / 1e6;
}

/** The interface's ARPHRD type from sysfs (Ethernet when unreadable). */
function interfaceType(name: string): number {
  try {
    return Number(Deno.readTextFileSync(`/sys/class/net/${name}/type`).trim());
  } catch {
    return ARPHRD_ETHER;
  }
}

function setInt(
  libc: Libc["symbols"],
  fd: number,
  level: number,
  option: number,
  value: number,
): number {
  const b = new Uint8Array(4);
  new DataView(b.buffer).setInt32(0, value, true);
  return libc.setsockopt(fd, level, option, b, 4);
}

function cString(text: string): Uint8Array {
  return new TextEncoder().encode(`${text}\0`);
}

function pointerValue(buffer: Uint8Array): bigint {
  return BigInt(Deno.UnsafePointer.value(Deno.UnsafePointer.of(buffer)));
}

/**
 * The packet capture: a raw `AF_PACKET` socket on one interface, read
 * through libc with the runtime's FFI (as `tcp/proc/sock_diag.ts` reads
 * netlink). It is a thin driver: the kernel copies each packet (cut to the
 * snap length) into a ring of fixed size shared with netkit
 * (`PACKET_RX_RING`, as libpcap does), stamps it when it arrives, and an
 * optional kernel filter (BPF) keeps only one port's packets. Frames are
 * read in place and handed back; nothing is kept per packet. Decoding is
 * `decodeFrame`'s job.
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
import type { PcapTime } from "./pcap.ts";
import type { LinkType } from "./types.ts";

/** Options for {@linkcode openCapture}. */
export interface CaptureOptions {
  /** The interface to capture on. Default `lo`. */
  interface?: string;
  /** Keep only TCP and UDP packets with this port at either end (filtered in the kernel). */
  port?: number;
  /**
   * Bytes kept of each frame: headers and the start of the payload.
   * Default 4016 (one 4 KiB ring slot); at least 96, at most 65535 + 14.
   */
  snaplen?: number;
  /** The ring's size in bytes: how many packets can wait to be read. Default 16 MiB, at most 256 MiB. */
  ringBytes?: number;
}

/** One captured frame. `frame` is a view into the ring, valid only until the callback returns. */
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
  /** Packets dropped because the ring was full. */
  dropped: number;
}

/** An open capture; close it (or `await using`) to free the socket and its ring. */
export interface PacketCapture extends AsyncDisposable {
  /** The interface it reads. */
  readonly interface: string;
  /** The link type of its frames (for a pcap file header and the decoder). */
  readonly linkType: LinkType;
  /** The snap length. */
  readonly snaplen: number;
  /**
   * Reads the frames waiting now, without waiting, and hands each to
   * `onFrame` (its bytes are the kernel's again once it returns). Stops
   * after `max` frames, or after a frame for which `onFrame` returns
   * `false`. Returns how many were handed over.
   */
  drain(
    onFrame: (frame: CapturedFrame) => boolean | void,
    max?: number,
  ): number;
  /** Waits, off the main thread, until a frame is waiting (true) or `timeoutMs` passed (false). */
  wait(timeoutMs: number): Promise<boolean>;
  /** The kernel's counts so far. */
  stats(): CaptureStats;
  /** Closes the socket and unmaps the ring; waits for a pending {@linkcode PacketCapture.wait} first. */
  close(): Promise<void>;
}

const AF_PACKET = 17;
const SOCK_RAW = 3;
const SOCK_DGRAM = 2;
const SOCK_CLOEXEC = 0o2000000;
const ETH_P_ALL_BE = 0x0300; // htons(0x0003) as little-endian memory
const SOL_SOCKET = 1;
const SOL_PACKET = 263;
const SO_ATTACH_FILTER = 26;
const PACKET_RX_RING = 5;
const PACKET_STATISTICS = 6;
const PACKET_VERSION = 10;
const TPACKET_V2 = 1;
const TP_STATUS_USER = 1;
const TP_STATUS_KERNEL = 0;
/** tpacket2_hdr (32 bytes, aligned) + sockaddr_ll (20), then the frame. */
const TPACKET2_HDRLEN = 52;
/**
 * Where the network header lands in a slot, TPACKET_ALIGN(52 + 16): the
 * frame (its link header just before) must fit between it and the slot's end.
 */
const SLOT_OVERHEAD = Math.ceil((TPACKET2_HDRLEN + 16) / 16) * 16;
const PACKET_OUTGOING = 4;
const ARPHRD_ETHER = 1;
const ARPHRD_LOOPBACK = 772;
const PROT_READ_WRITE = 3;
const MAP_SHARED = 1;
const POLLIN = 1;
const EPERM = 1;
const EACCES = 13;
const PAGE = 4096;
const MIN_SLOT = 512;
const DEFAULT_SNAPLEN_RING = 4096 - SLOT_OVERHEAD;
const MAX_SNAPLEN = 65535 + 14;
const DEFAULT_RING = 16 * 1024 * 1024;
const MAX_RING = 256 * 1024 * 1024;
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
  mmap: {
    parameters: ["pointer", "usize", "i32", "i32", "i32", "i64"],
    result: "pointer",
  },
  munmap: { parameters: ["pointer", "usize"], result: "i32" },
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

/** The ring's geometry: `frames` slots of `frameSize` bytes in blocks of `blockSize`. */
interface Ring {
  frameSize: number;
  blockSize: number;
  blocks: number;
  frames: number;
}

/**
 * Slots big enough for the snap length (a power of two, at least 512
 * bytes), as many as fit in `bytes`; blocks are whole pages holding whole
 * slots, so slot `i` starts at `i * frameSize`.
 */
function ringGeometry(snaplen: number, bytes: number): Ring {
  let frameSize = MIN_SLOT;
  while (frameSize < snaplen + SLOT_OVERHEAD) frameSize *= 2;
  const blockSize = Math.max(PAGE, frameSize);
  const blocks = Math.max(8, Math.floor(bytes / blockSize));
  return {
    frameSize,
    blockSize,
    blocks,
    frames: blocks * (blockSize / frameSize),
  };
}

/**
 * Opens a packet socket on an interface. Throws a {@linkcode TcpError}:
 * `capture_denied` without root or CAP_NET_RAW, `capture_failed` when
 * FFI is not allowed, the interface does not exist or the kernel refuses,
 * `unsupported_os` off Linux.
 *
 * @example Capture the packets of one port on loopback (root)
 * ```ts ignore
 * import { decodeFrame, openCapture } from "@netkit/netkit/tcp/trace";
 *
 * await using capture = openCapture({ interface: "lo", port: 8080 });
 * for (let i = 0; i < 10; i++) {
 *   await capture.wait(100);
 *   capture.drain((f) => console.log(decodeFrame(f.frame, { linkType: capture.linkType })));
 * }
 * ```
 */
export function openCapture(options: CaptureOptions = {}): PacketCapture {
  assertLinux("packet capture");
  const name = options.interface ?? "lo";
  const snaplen = Math.max(
    96,
    Math.min(options.snaplen ?? DEFAULT_SNAPLEN_RING, MAX_SNAPLEN),
  );
  const ring = ringGeometry(
    snaplen,
    Math.min(options.ringBytes ?? DEFAULT_RING, MAX_RING),
  );
  let lib: Libc;
  try {
    lib = Deno.dlopen("libc.so.6", SYMBOLS);
  } catch (error) {
    throw new TcpError(
      "capture_failed",
      error instanceof Deno.errors.NotCapable ||
        error instanceof Deno.errors.PermissionDenied
        ? "packet capture calls libc through FFI: run with --allow-ffi (or --allow-all)"
        : `cannot load libc for packet capture: ${errorMessage(error)}`,
      { cause: error },
    );
  }
  const libc = lib.symbols;
  const errno = () =>
    new Deno.UnsafePointerView(libc.__errno_location()!).getInt32();
  let fd = -1;
  let map: Deno.PointerValue = null;
  const mapBytes = ring.blockSize * ring.blocks;
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
    if (setInt(libc, fd, SOL_PACKET, PACKET_VERSION, TPACKET_V2) !== 0) {
      throw new TcpError(
        "capture_failed",
        `the kernel refused TPACKET_V2 (errno ${errno()})`,
      );
    }
    const req = new Uint8Array(16);
    const rv = new DataView(req.buffer);
    rv.setUint32(0, ring.blockSize, true);
    rv.setUint32(4, ring.blocks, true);
    rv.setUint32(8, ring.frameSize, true);
    rv.setUint32(12, ring.frames, true);
    if (libc.setsockopt(fd, SOL_PACKET, PACKET_RX_RING, req, 16) !== 0) {
      throw new TcpError(
        "capture_failed",
        `the kernel refused a ${mapBytes}-byte packet ring (errno ${errno()})`,
      );
    }
    map = libc.mmap(
      null,
      BigInt(mapBytes),
      PROT_READ_WRITE,
      MAP_SHARED,
      fd,
      0n,
    );
    if (map === null || Deno.UnsafePointer.value(map) === 2n ** 64n - 1n) {
      map = null;
      throw new TcpError(
        "capture_failed",
        `cannot map the packet ring (errno ${errno()})`,
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
    return driver(lib, fd, map, ring, { name, linkType, snaplen });
  } catch (error) {
    if (map !== null) libc.munmap(map, BigInt(mapBytes));
    if (fd >= 0) libc.close(fd);
    lib.close();
    throw error;
  }
}

function driver(
  lib: Libc,
  fd: number,
  map: NonNullable<Deno.PointerValue>,
  ring: Ring,
  info: { name: string; linkType: LinkType; snaplen: number },
): PacketCapture {
  const libc = lib.symbols;
  const mapBytes = ring.blockSize * ring.blocks;
  // The ring, read in place: each slot is a tpacket2_hdr, a sockaddr_ll,
  // then the frame at tp_mac.
  const bytes = new Uint8Array(
    Deno.UnsafePointerView.getArrayBuffer(map, mapBytes),
  );
  const view = new DataView(bytes.buffer);
  const pollfd = new Uint8Array(8);
  new DataView(pollfd.buffer).setInt32(0, fd, true);
  new DataView(pollfd.buffer).setInt16(4, POLLIN, true);
  const statsBuf = new Uint8Array(8);
  const statsLen = new Uint8Array(4);
  let next = 0;
  let received = 0;
  let dropped = 0;
  let closed = false;
  let pending: Promise<unknown> | undefined;
  const out: CapturedFrame = {
    frame: bytes.subarray(0, 0),
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
    interface: info.name,
    linkType: info.linkType,
    snaplen: info.snaplen,
    drain(onFrame, max = DRAIN_BATCH) {
      let n = 0;
      while (!closed && n < max) {
        const slot = next * ring.frameSize;
        if ((view.getUint32(slot, true) & TP_STATUS_USER) === 0) break;
        const wire = view.getUint32(slot + 4, true);
        const kept = view.getUint32(slot + 8, true);
        const mac = view.getUint16(slot + 12, true);
        const hatype = view.getUint16(slot + 32 + 8, true);
        const outgoing = bytes[slot + 32 + 10] === PACKET_OUTGOING;
        let more = true;
        if (
          !(outgoing && hatype === ARPHRD_LOOPBACK) &&
          mac + kept <= ring.frameSize
        ) {
          out.seconds = view.getUint32(slot + 16, true);
          out.nanoseconds = view.getUint32(slot + 20, true);
          out.timeMs = out.seconds * 1000 + out.nanoseconds / 1e6;
          out.wireLength = wire;
          out.frame = bytes.subarray(slot + mac, slot + mac + kept);
          n++;
          more = onFrame(out) !== false;
        }
        // The slot goes back to the kernel only after the frame was used.
        view.setUint32(slot, TP_STATUS_KERNEL, true);
        next = (next + 1) % ring.frames;
        if (!more) break;
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
      // A poll() still running on its thread uses the socket and the library.
      await pending?.catch(() => {});
      libc.munmap(map, BigInt(mapBytes));
      libc.close(fd);
      lib.close();
    },
    [Symbol.asyncDispose]() {
      return this.close();
    },
  };
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

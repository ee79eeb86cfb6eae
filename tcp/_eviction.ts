// Whom to drop when a bounded set of connections that have not proved
// anything yet is full and a newcomer arrives. Dropping the oldest alone
// lets one address flooding connections push out everyone else's
// handshakes; so the victim comes from the address holding the most
// entries (each address's share is what it holds beyond the others), and
// among those from the ones that have not yet shown they speak the
// protocol. Oldest first within that.

/** An entry of a pending set: its peer's address and whether it spoke. */
export interface Pending {
  /** The peer's host (no port): a share is per address. */
  readonly host: string;
  /** True once the peer sent a well-formed opening (a hello). */
  readonly spoke?: boolean;
}

/**
 * The entry to drop from `entries` (iterated oldest first): among those
 * that have not spoken if any, else among all, the oldest of the host
 * holding the most. Undefined when empty.
 */
export function pickVictim<T extends Pending>(
  entries: Iterable<T>,
): T | undefined {
  const counts = new Map<string, number>();
  let silent = 0;
  for (const e of entries) {
    counts.set(e.host, (counts.get(e.host) ?? 0) + 1);
    if (!e.spoke) silent++;
  }
  let victim: T | undefined;
  let most = 0;
  for (const e of entries) {
    if (silent > 0 && e.spoke) continue;
    const count = counts.get(e.host)!;
    // Strictly more: ties keep the older entry.
    if (count > most) {
      victim = e;
      most = count;
    }
  }
  return victim;
}

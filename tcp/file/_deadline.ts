// The one timer a driver keeps for a core that takes time as an input
// (quinn-proto's poll_timeout / handle_timeout): armed at the core's next
// deadline; when it fires the core is told the time, and the timer is
// armed again at whatever the core names next. Progress only moves a
// deadline later, so a busy connection costs one timer per deadline
// period, not one per read.

/** A core with deadlines. */
export interface Timed<E> {
  pollTimeout(): number | undefined;
  handleTimeout(now: number): E[];
}

/** A running deadline timer. */
export interface DeadlineTimer {
  /** Arms the timer again if the core's next deadline is earlier than the armed one. */
  arm(): void;
  stop(): void;
}

/** Keeps `core`'s deadlines; events from a passed deadline go to `onEvents`. */
export function keepDeadlines<E>(
  core: Timed<E>,
  onEvents: (events: E[]) => void,
): DeadlineTimer {
  let timer: ReturnType<typeof setTimeout> | undefined;
  let armedAt = Infinity;
  let stopped = false;
  const fire = () => {
    timer = undefined;
    armedAt = Infinity;
    const events = core.handleTimeout(performance.now());
    if (events.length > 0) onEvents(events);
    arm();
  };
  const arm = () => {
    const at = core.pollTimeout();
    if (stopped || at === undefined || at >= armedAt) return;
    clearTimeout(timer);
    armedAt = at;
    timer = setTimeout(fire, Math.max(0, at - performance.now()));
  };
  arm();
  return {
    arm,
    stop() {
      stopped = true;
      clearTimeout(timer);
    },
  };
}

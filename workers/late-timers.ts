/**
 * Handler timeouts, armed late. Most calls are answered within the event-loop turn that started them,
 * so a call gets its timer only if it is still running once that turn is over: one setImmediate per
 * turn instead of a setTimeout and a clearTimeout per call (each a Timeout object, and Node's timer
 * list for the duration made and dropped again as it empties). The deadline is unchanged: the call's
 * start plus its timeout.
 */
import { performance } from 'node:perf_hooks';

/** A call that may need a timer: answered (`settled`), or not yet and due at `deadline` (performance.now() ms). */
export interface Timed {
  settled: boolean;
  deadline: number;
  timer: NodeJS.Timeout | null;
}

/** The timer callback: top level, its context in the arguments, no closure per call. */
function fireTimer<T extends Timed>(fire: (item: T) => void, item: T): void {
  item.timer = null;
  if (!item.settled) fire(item);
}

export class LateTimers<T extends Timed> {
  private pending: T[] = [];
  private scheduled = false;
  private readonly armBound = (): void => this.arm();

  /** `fire` runs once for a call still unsettled at its deadline. */
  constructor(private readonly fire: (item: T) => void) {}

  /** Watches `item` from now on; its timer is made at the end of this turn if it is still running then. */
  add(item: T): void {
    this.pending.push(item);
    if (!this.scheduled) {
      this.scheduled = true;
      setImmediate(this.armBound);
    }
  }

  /** Clears the timer of a settled call, if it got one. */
  static clear(item: { timer: NodeJS.Timeout | null }): void {
    if (item.timer !== null) {
      clearTimeout(item.timer);
      item.timer = null;
    }
  }

  private arm(): void {
    this.scheduled = false;
    const list = this.pending;
    this.pending = [];
    const now = performance.now();
    for (let i = 0; i < list.length; i++) {
      const item = list[i];
      if (!item.settled && item.timer === null) item.timer = setTimeout(fireTimer, Math.max(0, item.deadline - now), this.fire, item);
    }
  }
}

import type { Clock } from '../../src/clock.js';

/**
 * The simulated account's virtual clock: a small discrete-event scheduler.
 *
 * `sleep(ms)` does not wait: it registers a timer and, once every runnable promise has settled
 * (one real `setImmediate`), time jumps to the earliest timer and its sleeper resumes. Sleepers
 * that run concurrently therefore overlap as they would in real time (twenty thousand rotations
 * each waiting 8 s for key propagation cost 8 virtual seconds, not 44 hours).
 *
 * Background timers (`at`) never drive time on their own: they fire only when time is moved past
 * them by a sleeper or by `advance()`. Deferred rotations start that way.
 */
interface Timer {
  due: number;
  seq: number;
  fire: () => void;
  /** A sleeper makes the scheduler move time; a background timer only rides along. */
  sleeper: boolean;
}

// Captured at import, so a test that fakes timers does not freeze the simulator.
const realSetImmediate = globalThis.setImmediate;

export class SimClock implements Clock {
  private t: number;
  private heap: Timer[] = [];
  private seq = 0;
  private sleepers = 0;
  private tickScheduled = false;

  constructor(start: Date) {
    this.t = start.getTime();
  }

  now(): Date {
    return new Date(this.t);
  }

  nowMs(): number {
    return this.t;
  }

  /** Resolves after `ms` of virtual time, costing no real time. */
  sleep(ms: number): Promise<void> {
    return new Promise<void>((resolve) => {
      this.push({ due: this.t + Math.max(0, ms), seq: this.seq++, fire: resolve, sleeper: true });
      this.sleepers++;
      this.scheduleTick();
    });
  }

  /** Moves time forward now, firing every timer that falls due on the way, in order. */
  advance(ms: number): void {
    const target = this.t + Math.max(0, ms);
    for (let top = this.heap[0]; top !== undefined && top.due <= target; top = this.heap[0]) {
      this.pop();
      if (top.due > this.t) this.t = top.due;
      if (top.sleeper) this.sleepers--;
      top.fire();
    }
    this.t = target;
  }

  /** Sets time to `date` (only forwards). */
  advanceTo(date: Date): void {
    this.advance(date.getTime() - this.t);
  }

  /** A background timer: runs `fire` when time passes `due` (epoch ms). Returns a canceller. */
  at(due: number, fire: () => void): () => void {
    let cancelled = false;
    this.push({
      due,
      seq: this.seq++,
      sleeper: false,
      fire: () => {
        if (!cancelled) fire();
      },
    });
    return () => {
      cancelled = true;
    };
  }

  private scheduleTick(): void {
    if (this.tickScheduled) return;
    this.tickScheduled = true;
    realSetImmediate(() => this.tick());
  }

  private tick(): void {
    this.tickScheduled = false;
    if (this.sleepers === 0) return;
    const first = this.heap[0];
    if (first === undefined) return;
    const due = first.due;
    for (let top = this.heap[0]; top !== undefined && top.due === due; top = this.heap[0]) {
      this.pop();
      if (due > this.t) this.t = due;
      if (top.sleeper) this.sleepers--;
      top.fire();
    }
    // The woken code runs in the microtasks before the next tick and may sleep again.
    if (this.sleepers > 0) this.scheduleTick();
  }

  private less(a: Timer, b: Timer): boolean {
    return a.due < b.due || (a.due === b.due && a.seq < b.seq);
  }

  private push(timer: Timer): void {
    const h = this.heap;
    h.push(timer);
    let i = h.length - 1;
    while (i > 0) {
      const parent = (i - 1) >> 1;
      const p = h[parent] as Timer;
      if (!this.less(timer, p)) break;
      h[i] = p;
      i = parent;
    }
    h[i] = timer;
  }

  private pop(): Timer | undefined {
    const h = this.heap;
    const top = h[0];
    const last = h.pop();
    if (top === undefined || last === undefined || h.length === 0) return top;
    let i = 0;
    const n = h.length;
    for (;;) {
      const l = 2 * i + 1;
      const r = l + 1;
      let smallest = last;
      let at = -1;
      const left = h[l];
      const right = h[r];
      if (l < n && left !== undefined && this.less(left, smallest)) {
        smallest = left;
        at = l;
      }
      if (r < n && right !== undefined && this.less(right, smallest)) {
        smallest = right;
        at = r;
      }
      if (at < 0) break;
      h[i] = smallest;
      i = at;
    }
    h[i] = last;
    return top;
  }
}

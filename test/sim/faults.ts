import type { Service } from './errors.js';
import { SimulatedCrash, SimulatedFault } from './errors.js';

export interface CallEntry {
  service: Service;
  op: string;
  at: Date;
  ok: boolean;
  /** The error's name (never its message: messages could quote caller input). */
  error?: string;
}

/** Every call made through the SDK clients, in order; counters are kept as calls arrive. */
export class CallLog {
  private list: CallEntry[] = [];
  private perOp = new Map<string, number>();
  private perService: Record<Service, number> = { iam: 0, sts: 0, secretsManager: 0, sns: 0 };

  /** @internal */
  record(service: Service, op: string, at: Date): CallEntry {
    const entry: CallEntry = { service, op, at, ok: true };
    this.list.push(entry);
    const key = `${service}:${op}`;
    this.perOp.set(key, (this.perOp.get(key) ?? 0) + 1);
    this.perService[service]++;
    return entry;
  }

  /** Calls of `op` (all calls when omitted), optionally of one service only. */
  count(op?: string, service?: Service): number {
    if (op === undefined) return service === undefined ? this.list.length : this.perService[service];
    if (service !== undefined) return this.perOp.get(`${service}:${op}`) ?? 0;
    let n = 0;
    for (const [key, c] of this.perOp) if (key.slice(key.indexOf(':') + 1) === op) n += c;
    return n;
  }

  /** Calls per operation name, e.g. `{ ListUsers: 3, GetCallerIdentity: 7 }`. */
  byOperation(): Record<string, number> {
    const out: Record<string, number> = {};
    for (const [key, c] of this.perOp) {
      const op = key.slice(key.indexOf(':') + 1);
      out[op] = (out[op] ?? 0) + c;
    }
    return out;
  }

  byService(): Record<Service, number> {
    return { ...this.perService };
  }

  /** Copies of the entries (mutating them changes nothing). */
  entries(): CallEntry[] {
    return this.list.map((e) => ({ ...e }));
  }

  /** Failed calls (throttled, faulted or rejected by the service). */
  failures(): CallEntry[] {
    return this.entries().filter((e) => !e.ok);
  }

  reset(): void {
    this.list = [];
    this.perOp.clear();
    this.perService = { iam: 0, sts: 0, secretsManager: 0, sns: 0 };
  }
}

interface Fault {
  op: string;
  seen: number;
  from: number;
  to: number;
  kind: 'fail' | 'crash';
  error?: Error;
}

/**
 * Injected faults. `nth` counts the calls of one operation that reach the service (after
 * throttling) since the fault was registered; a fault is dropped once it has fired.
 */
export class Faults {
  private faults: Fault[] = [];
  private hooks: Array<(op: string, input: unknown) => Error | undefined> = [];

  failCall(op: string, o: { nth?: number; error?: Error; times?: number } = {}): void {
    const from = o.nth ?? 1;
    const fault: Fault = { op, seen: 0, from, to: from + (o.times ?? 1) - 1, kind: 'fail' };
    if (o.error) fault.error = o.error;
    this.faults.push(fault);
  }

  crashAfterCall(op: string, o: { nth?: number } = {}): void {
    const nth = o.nth ?? 1;
    this.faults.push({ op, seen: 0, from: nth, to: nth, kind: 'crash' });
  }

  failWhen(predicate: (op: string, input: unknown) => Error | undefined): () => void {
    this.hooks.push(predicate);
    return () => {
      this.hooks = this.hooks.filter((h) => h !== predicate);
    };
  }

  get empty(): boolean {
    return this.faults.length === 0 && this.hooks.length === 0;
  }

  /** Called once per call before it takes effect: the error to throw instead, and whether to crash after. */
  check(op: string, input: unknown): { error?: Error; crash: boolean } {
    let crash = false;
    let error: Error | undefined;
    if (this.faults.length > 0) {
      for (const f of this.faults) {
        if (f.op !== op) continue;
        f.seen++;
        if (f.seen < f.from || f.seen > f.to) continue;
        if (f.kind === 'crash') crash = true;
        else error ??= f.error ?? new SimulatedFault(`Simulated failure of ${op}`);
      }
      this.faults = this.faults.filter((f) => f.seen < f.to);
    }
    for (const hook of this.hooks) {
      error ??= hook(op, input);
    }
    return error ? { error, crash: false } : { crash };
  }
}

export function crash(op: string): SimulatedCrash {
  return new SimulatedCrash(`Simulated crash after ${op} took effect`);
}

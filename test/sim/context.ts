import type { SimClock } from './clock.js';
import type { Service } from './errors.js';
import type { Rng } from './rng.js';

/** What every service model shares. */
export interface SimContext {
  readonly accountId: string;
  readonly region: string;
  readonly clock: SimClock;
  /** Ids, secrets, version ids: one stream, so adding throttling does not change them. */
  readonly rng: Rng;
  readonly propagationDelayMs: number;
}

/** A live access key as the account holds it. */
export interface KeyRecord {
  accessKeyId: string;
  secretAccessKey: string;
  status: 'Active' | 'Inactive';
  created: Date;
  lastUsed: Date | null;
  lastUsedService: string | null;
  lastUsedRegion: string | null;
  userName: string;
  /** Virtual epoch ms from which STS accepts the key (eventual consistency of a new key). */
  usableAt: number;
}

/** Who signed a call: the operator's credentials (never checked) or one of the account's keys. */
export type Caller = { operator: true } | { operator: false; key: KeyRecord };

/** Body of an SDK output: the pipeline adds `$metadata`. */
export type Body<O> = Omit<O, '$metadata'>;

type InputOf<C> = C extends new (...args: infer A) => unknown ? Exclude<A[0], undefined> : never;
type OutputOf<C> = C extends new (
  ...args: never[]
) => { resolveMiddleware: (...a: never[]) => (...b: never[]) => Promise<{ output: infer O }> }
  ? O
  : never;

export type CommandClass = new (...args: never[]) => unknown;

export interface OpSpec {
  service: Service;
  op: string;
  handler: (input: never, caller: Caller) => unknown;
}

/** One simulated operation, typed by its SDK command (input and output fields are checked). */
export function op<C extends CommandClass>(
  service: Service,
  command: C,
  handler: (input: InputOf<C>, caller: Caller) => Body<OutputOf<C>> | Promise<Body<OutputOf<C>>>,
): [CommandClass, OpSpec] {
  const name = command.name.replace(/Command$/, '');
  return [command, { service, op: name, handler: handler as OpSpec['handler'] }];
}

/** Opaque pagination token: the next item's position and identity (survives deletions). */
export function paginate<T>(
  items: readonly T[],
  token: string | undefined,
  max: number,
  keyOf: (item: T) => string,
  invalid: () => Error,
): { page: T[]; next?: string } {
  let start = 0;
  if (token) {
    let decoded: unknown;
    try {
      decoded = JSON.parse(Buffer.from(token, 'base64url').toString('utf8'));
    } catch {
      throw invalid();
    }
    if (!Array.isArray(decoded) || typeof decoded[0] !== 'number' || typeof decoded[1] !== 'string') {
      throw invalid();
    }
    const [index, key] = decoded as [number, string];
    const at = items[index];
    if (at !== undefined && keyOf(at) === key) start = index;
    else {
      const found = items.findIndex((item) => keyOf(item) === key);
      start = found >= 0 ? found : Math.min(index, items.length);
    }
  }
  const page = items.slice(start, start + max);
  const nextItem = items[start + max];
  if (nextItem === undefined) return { page };
  return { page, next: Buffer.from(JSON.stringify([start + max, keyOf(nextItem)])).toString('base64url') };
}

/** AWS's timestamp form in reports and bodies: `2026-06-01T00:00:00+00:00`. */
export function isoSeconds(date: Date): string {
  return date.toISOString().replace(/\.\d{3}Z$/, '+00:00');
}

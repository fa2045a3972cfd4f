import { seedMathRandom } from './account.js';
import { type Model, measureMemory, measureSize } from './audit.js';
import { measureRotations } from './rotation.js';

/**
 * Child process of the benchmark (forked by run.ts with the tsx loader and --expose-gc): runs one
 * task and sends its figures back. A fresh process per audit size keeps the memory figures of one
 * size free of the others.
 */

export type Task =
  | { task: 'size'; users: number; seed: number; model: Model }
  | { task: 'memory'; users: number; seed: number; model: Model; auditCalls: number }
  | { task: 'rotation'; delaysSeconds: number[]; latencyMs: number; seed: number };

async function run(task: Task): Promise<unknown> {
  // withRetry's jitter uses Math.random: seeded, so throttled runs replay exactly (the audit
  // phases reseed it for each account they build).
  seedMathRandom(task.seed ^ 0x9e3779b9);
  if (task.task === 'size') return measureSize({ users: task.users, seed: task.seed, model: task.model });
  if (task.task === 'memory') {
    return measureMemory({
      users: task.users,
      seed: task.seed,
      model: task.model,
      auditCalls: task.auditCalls,
    });
  }
  return measureRotations({ delaysSeconds: task.delaysSeconds, latencyMs: task.latencyMs, seed: task.seed });
}

process.once('message', (message) => {
  run(message as Task).then(
    (result) => process.send?.({ ok: true, result }, () => process.exit(0)),
    (err: unknown) =>
      process.send?.(
        { ok: false, error: err instanceof Error ? (err.stack ?? err.message) : String(err) },
        () => process.exit(1),
      ),
  );
});

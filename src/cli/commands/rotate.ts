import { DEFAULT_WAIT_SECONDS, type RotateNowResult, rotateNow } from '../../rotate-now.js';
import { intOption, UsageError } from '../args.js';
import type { CommandContext } from '../context.js';
import { fields, type Io, paint, printJson, progress } from '../output.js';

export async function rotateCommand(ctx: CommandContext): Promise<number> {
  const { io, cfg } = ctx;
  const userName = ctx.positionals[0] as string;
  const wait = ctx.values.wait === true;
  const timeoutSeconds = intOption(ctx.values, 'timeout', 'rotate', { min: 1, max: 840 });
  if (timeoutSeconds !== undefined && !wait) {
    throw new UsageError('--timeout is how long --wait waits: give --wait too', 'rotate');
  }
  progress(
    io,
    wait
      ? `Rotating ${userName} and waiting for the new key to become AWSCURRENT (up to ${timeoutSeconds ?? DEFAULT_WAIT_SECONDS} s)...`
      : `Starting a rotation of ${userName}...`,
  );
  const result = await rotateNow({
    userName,
    ...(wait && { wait: true }),
    ...(timeoutSeconds !== undefined && { timeoutSeconds }),
  });
  if (ctx.json) printJson(io, result);
  else io.out(renderRotation(result, io, cfg.rotationGraceDays));
  return 0;
}

export function renderRotation(r: RotateNowResult, io: Io, graceDays: number): string {
  const rows: [string, string][] = [
    ['secret', r.secretArn],
    ['version', r.versionId],
  ];
  if (r.status === 'completed') {
    rows.push(['new key', `${r.accessKeyId ?? '?'} (AWSCURRENT)`]);
    if (r.previousAccessKeyId) {
      rows.push([
        'previous key',
        graceDays > 0
          ? `${r.previousAccessKeyId} (AWSPREVIOUS: stays active ${graceDays} days for consumers still using it, then the audit deactivates it)`
          : `${r.previousAccessKeyId} (AWSPREVIOUS, deactivated)`,
      ]);
    }
    return `${paint(io, 'green', `Rotation of ${r.userName} completed.`)}\n${fields(rows)}`;
  }
  if (r.previousAccessKeyId)
    rows.push(['current key', `${r.previousAccessKeyId} (until the rotation finishes)`]);
  return `Rotation of ${r.userName} started.\n${fields(rows)}Follow it with: iam-key-rotator status ${r.userName}\n`;
}

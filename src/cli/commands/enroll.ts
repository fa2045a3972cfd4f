import { GetCallerIdentityCommand } from '@aws-sdk/client-sts';
import { clients } from '../../aws/clients.js';
import { withRetry } from '../../aws/retry.js';
import { type EnrollResult, enroll, type UnenrollResult, unenroll } from '../../enroll.js';
import { intOption, UsageError } from '../args.js';
import type { CommandContext } from '../context.js';
import { fields, type Io, paint, printJson, progress } from '../output.js';

/** The serverless stage deployed when none is named (serverless' own default). */
export const DEFAULT_STAGE = 'dev';

/** The region the Secrets Manager client signs for (--region, AWS_REGION, or the profile's). */
async function clientRegion(fallback: string): Promise<string> {
  try {
    const region = await clients().sm.config.region();
    return region || fallback;
  } catch {
    return fallback;
  }
}

/**
 * The rotation function's ARN: --rotation-function as given when it is an ARN; otherwise a function
 * name (default iam-key-rotator-<stage>-rotation, the name serverless gives it) in the caller's
 * account (STS GetCallerIdentity) and region.
 */
export async function rotationFunctionArn(ctx: CommandContext): Promise<string> {
  const given = ctx.values['rotation-function'] as string | undefined;
  const stage = ctx.values.stage as string | undefined;
  if (given !== undefined && stage !== undefined) {
    throw new UsageError('give --rotation-function or --stage, not both', 'enroll');
  }
  if (given?.startsWith('arn:')) return given;
  if (stage !== undefined && !/^[A-Za-z0-9-]{1,32}$/.test(stage)) {
    throw new UsageError(`--stage "${stage}" is not a serverless stage name (letters, digits, -)`, 'enroll');
  }
  const name = given ?? `iam-key-rotator-${stage ?? DEFAULT_STAGE}-rotation`;
  if (!/^[\w-]{1,64}$/.test(name)) {
    throw new UsageError(`--rotation-function "${name}" is neither a function name nor an ARN`, 'enroll');
  }
  const identity = await withRetry(() => clients().sts.send(new GetCallerIdentityCommand({})));
  const partition = identity.Arn?.split(':')[1] ?? 'aws';
  const region = await clientRegion(ctx.cfg.region);
  return `arn:${partition}:lambda:${region}:${identity.Account}:function:${name}`;
}

export async function enrollCommand(ctx: CommandContext): Promise<number> {
  const { io, cfg } = ctx;
  const userName = ctx.positionals[0] as string;
  const scheduleDays = intOption(ctx.values, 'schedule-days', 'enroll', { min: 1, max: 1000 });
  const rotationLambdaArn = await rotationFunctionArn(ctx);
  progress(io, `Enrolling ${userName} (rotation function ${rotationLambdaArn})...`);
  const result = await enroll(
    {
      userName,
      owner: ctx.values.owner as string | undefined,
      rotationLambdaArn,
      scheduleDays,
    },
    cfg,
  );
  if (ctx.json) printJson(io, result);
  else io.out(renderEnroll(result, io));
  return 0;
}

export function renderEnroll(r: EnrollResult, io: Io): string {
  const rows: [string, string][] = [
    ['secret', r.secretArn],
    ['key', `${r.accessKeyId} (AWSCURRENT${r.mode === 'created' ? ', created now' : ', adopted'})`],
    ['owner', r.owner ?? '-'],
    ['rotation', `every ${r.scheduleDays} days`],
  ];
  if (r.replacedRotationLambdaArn)
    rows.push(['replaced', `rotation function ${r.replacedRotationLambdaArn}`]);
  if (r.otherKeyIds.length > 0) rows.push(['other keys', r.otherKeyIds.join(', ')]);
  const head = paint(
    io,
    'green',
    `Enrolled ${r.userName} (${r.mode === 'created' ? 'created' : 'adopted'} secret ${r.secretName}).`,
  );
  return `${head}\n${fields(rows)}\n${r.consumers}\n`;
}

export async function unenrollCommand(ctx: CommandContext): Promise<number> {
  const { io, cfg } = ctx;
  const userName = ctx.positionals[0] as string;
  const result = await unenroll(userName, cfg);
  if (ctx.json) printJson(io, result);
  else io.out(renderUnenroll(result));
  return 0;
}

export function renderUnenroll(r: UnenrollResult): string {
  const kept = r.keptKeyIds.length > 0 ? r.keptKeyIds.join(', ') : 'none';
  return `Unenrolled ${r.userName}: rotation schedule and binding tags removed from ${r.secretArn}.\n${fields(
    [
      ['secret', `${r.secretArn} (kept)`],
      ['keys kept', kept],
    ],
  )}`;
}

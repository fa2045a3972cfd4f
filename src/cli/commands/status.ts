import { accountStatus, type EnrolledSecretStatus, type UserStatus, userStatus } from '../../status.js';
import type { CommandContext } from '../context.js';
import { fields, type Io, paint, printJson, progress, table } from '../output.js';

export async function statusCommand(ctx: CommandContext): Promise<number> {
  const { io, cfg } = ctx;
  const user = ctx.positionals[0];
  if (user === undefined) {
    progress(io, 'Listing enrolled secrets...');
    const secrets = await accountStatus(cfg);
    if (ctx.json) printJson(io, { enrolled: secrets });
    else io.out(renderAccountStatus(secrets, io));
    return 0;
  }
  const status = await userStatus(user, cfg);
  if (ctx.json) printJson(io, status);
  else io.out(renderUserStatus(status, io));
  return 0;
}

const day = (iso: string | null): string => (iso ? iso.slice(0, 10) : '-');
const minute = (iso: string | null): string => (iso ? `${iso.replace('T', ' ').slice(0, 16)} UTC` : '-');

export function renderAccountStatus(secrets: EnrolledSecretStatus[], io: Io): string {
  if (secrets.length === 0) {
    return 'No enrolled users: no secret carries the iam-key-rotator:user tag.\n';
  }
  const rows = secrets.map((s) => [
    s.userName,
    s.secretName,
    s.rotationEnabled ? 'on' : paint(io, 'yellow', 'off'),
    day(s.lastRotatedAt),
    s.rotationEnabled ? day(s.nextRotationAt) : '-',
    s.pendingVersionId
      ? s.stuck
        ? paint(io, 'red', `stuck since ${minute(s.pendingSince)}`)
        : paint(io, 'cyan', 'in progress')
      : '',
  ]);
  const stuck = secrets.filter((s) => s.stuck).length;
  return `${table(['USER', 'SECRET', 'ROTATION', 'LAST ROTATED', 'NEXT ROTATION', 'PENDING'], rows)}${secrets.length} enrolled secret(s)${stuck > 0 ? paint(io, 'red', `, ${stuck} stuck rotation(s)`) : ''}.\n`;
}

const POLICY_COLOUR = { ok: 'green', warning: 'yellow', expired: 'red', inactive: 'gray' } as const;

export function renderUserStatus(s: UserStatus, io: Io): string {
  const out: string[] = [];
  const state = s.enrolled ? paint(io, 'green', 'enrolled') : paint(io, 'yellow', 'not enrolled');
  out.push(`${paint(io, 'bold', `User ${s.userName}`)} (${state})`);
  const about: [string, string][] = [
    ['arn', s.arn],
    ['owner', s.owner ?? paint(io, 'yellow', 'none')],
  ];
  if (s.exempt) about.push(['exempt', 'yes (reported, never changed)']);
  if (s.secret) {
    const sec = s.secret;
    about.push(['secret', sec.name]);
    about.push([
      'rotation',
      sec.rotationEnabled
        ? `on, every ${sec.scheduleDays ?? '?'} days, by ${sec.rotationLambdaArn ?? '?'}`
        : paint(io, 'yellow', 'off'),
    ]);
    about.push(['last rotated', minute(sec.lastRotatedAt)]);
    if (sec.pendingVersionId) about.push(['pending', `version ${sec.pendingVersionId}`]);
  }
  if (s.enrolled) {
    about.push(['next rotation', day(s.nextRotationAt)]);
    if (s.auditRotatesOn) about.push(['audit rotates', `${day(s.auditRotatesOn)} at the latest`]);
  }
  out.push(fields(about));
  if (s.keys.length === 0) {
    out.push('No access keys.\n');
  } else {
    out.push(
      table(
        ['ACCESS KEY', 'STATUS', 'AGE', 'CREATED', 'LAST USED', 'STAGES', 'POLICY'],
        s.keys.map((k) => [
          k.accessKeyId,
          k.status,
          k.ageDays === null ? '-' : `${k.ageDays} d`,
          day(k.createdAt),
          k.lastUsedAt
            ? `${day(k.lastUsedAt)}${k.lastUsedService ? ` (${k.lastUsedService})` : ''}`
            : 'never',
          k.stages.join(', ') || '-',
          paint(io, POLICY_COLOUR[k.policy], k.policy) + (k.unused ? paint(io, 'yellow', ', unused') : ''),
        ]),
      ),
    );
  }
  if (s.notes.length > 0) {
    out.push('Next:');
    for (const n of s.notes) out.push(`  - ${n}`);
    out.push('');
  }
  if (s.problems.length > 0) {
    out.push('Problems:');
    for (const p of s.problems) out.push(`  - ${p}`);
    out.push('');
  }
  return out.join('\n');
}

import type { RotationRulesType, SecretListEntry, Tag } from '@aws-sdk/client-secrets-manager';
import {
  CancelRotateSecretCommand,
  CreateSecretCommand,
  DeleteSecretCommand,
  DescribeSecretCommand,
  GetSecretValueCommand,
  InvalidParameterException,
  InvalidRequestException,
  ListSecretsCommand,
  ListSecretVersionIdsCommand,
  PutSecretValueCommand,
  ResourceExistsException,
  ResourceNotFoundException,
  RestoreSecretCommand,
  RotateSecretCommand,
  TagResourceCommand,
  UntagResourceCommand,
  UpdateSecretCommand,
  UpdateSecretVersionStageCommand,
} from '@aws-sdk/client-secrets-manager';
import type { CommandClass, OpSpec, SimContext } from './context.js';
import { op, paginate } from './context.js';
import { meta, serviceError } from './errors.js';
import { ALNUM } from './rng.js';

export const AWSCURRENT = 'AWSCURRENT';
export const AWSPENDING = 'AWSPENDING';
export const AWSPREVIOUS = 'AWSPREVIOUS';
export const ROTATION_STEPS = ['createSecret', 'setSecret', 'testSecret', 'finishSecret'] as const;

export interface RotationEvent {
  Step: string;
  SecretId: string;
  ClientRequestToken: string;
  RotationToken?: string;
}
export type RotationFunction = (event: RotationEvent) => Promise<unknown>;

export interface VersionRecord {
  versionId: string;
  value?: string;
  binary?: Uint8Array;
  stages: Set<string>;
  created: Date;
}

export interface SecretRecord {
  arn: string;
  name: string;
  description?: string;
  tags: Map<string, string>;
  /** Creation order. */
  versions: Map<string, VersionRecord>;
  rotationEnabled: boolean;
  rotationLambdaArn?: string;
  rotationRules?: RotationRulesType;
  lastRotated?: Date;
  lastChanged: Date;
  lastAccessed?: Date;
  created: Date;
  deleted?: Date;
}

export interface SimRotationRecord {
  secretArn: string;
  token: string;
  attempts: number;
  outcome: 'succeeded' | 'failed' | 'running';
  /** `<error name>: <message>` of each failed attempt. */
  errors: string[];
}

interface Rotation extends SimRotationRecord {
  started: boolean;
  done?: Promise<void>;
  cancelTimer?: () => void;
}

const notFound = (message = "Secrets Manager can't find the specified secret.") =>
  new ResourceNotFoundException({ message, $metadata: meta(400) });
const invalidParam = (message: string) => new InvalidParameterException({ message, $metadata: meta(400) });
const invalidRequest = (message: string) => new InvalidRequestException({ message, $metadata: meta(400) });

const toTags = (tags: Map<string, string>): Tag[] => [...tags].map(([Key, Value]) => ({ Key, Value }));

const sameBytes = (a: Uint8Array | undefined, b: Uint8Array | undefined) =>
  a === b || (a !== undefined && b !== undefined && Buffer.compare(Buffer.from(a), Buffer.from(b)) === 0);

/** Secrets Manager: secrets, versions and staging labels, and the rotation engine. */
export class SecretsModel {
  readonly byName = new Map<string, SecretRecord>();
  readonly byArn = new Map<string, SecretRecord>();
  /** Creation order, for listing. */
  readonly order: SecretRecord[] = [];
  readonly functions = new Map<string, RotationFunction>();
  readonly rotations: Rotation[] = [];

  constructor(
    private readonly ctx: SimContext,
    private readonly mode: 'sync' | 'deferred',
    private readonly attempts: number,
  ) {}

  // ---------- state helpers

  find(id: string | undefined): SecretRecord | undefined {
    if (id === undefined) return undefined;
    return this.byArn.get(id) ?? this.byName.get(id) ?? this.findPartialArn(id);
  }

  /** A partial ARN (without the random 6-character suffix) also names the secret. */
  private findPartialArn(id: string): SecretRecord | undefined {
    if (!id.startsWith('arn:')) return undefined;
    const prefix = `arn:aws:secretsmanager:${this.ctx.region}:${this.ctx.accountId}:secret:`;
    return id.startsWith(prefix) ? this.byName.get(id.slice(prefix.length)) : undefined;
  }

  /** The secret, refusing secrets that are scheduled for deletion unless `allowDeleted`. */
  require(id: string | undefined, allowDeleted = false): SecretRecord {
    const s = this.find(id);
    if (!s) throw notFound();
    if (s.deleted && !allowDeleted) {
      throw invalidRequest(
        "You can't perform this operation on the secret because it was marked for deletion.",
      );
    }
    return s;
  }

  create(o: {
    name: string;
    value?: string;
    binary?: Uint8Array;
    token?: string;
    tags?: Map<string, string>;
    description?: string;
  }): SecretRecord {
    if (this.byName.has(o.name)) {
      throw new ResourceExistsException({
        message: `The operation failed because the secret ${o.name} already exists.`,
        $metadata: meta(400),
      });
    }
    const now = this.ctx.clock.now();
    const secret: SecretRecord = {
      arn: `arn:aws:secretsmanager:${this.ctx.region}:${this.ctx.accountId}:secret:${o.name}-${this.ctx.rng.string(6, ALNUM)}`,
      name: o.name,
      tags: o.tags ?? new Map(),
      versions: new Map(),
      rotationEnabled: false,
      lastChanged: now,
      created: now,
    };
    if (o.description !== undefined) secret.description = o.description;
    if (o.value !== undefined || o.binary !== undefined) {
      const v = this.addVersion(secret, o.token ?? this.ctx.rng.uuid());
      if (o.value !== undefined) v.value = o.value;
      if (o.binary !== undefined) v.binary = o.binary;
      this.attach(secret, AWSCURRENT, v);
    }
    this.byName.set(secret.name, secret);
    this.byArn.set(secret.arn, secret);
    this.order.push(secret);
    return secret;
  }

  private addVersion(secret: SecretRecord, versionId: string): VersionRecord {
    const v: VersionRecord = { versionId, stages: new Set(), created: this.ctx.clock.now() };
    secret.versions.set(versionId, v);
    return v;
  }

  holder(secret: SecretRecord, stage: string): VersionRecord | undefined {
    for (const v of secret.versions.values()) if (v.stages.has(stage)) return v;
    return undefined;
  }

  /**
   * Puts `stage` on `version`, taking it off whichever version had it. Moving AWSCURRENT gives
   * the version that lost it AWSPREVIOUS, as Secrets Manager does.
   */
  attach(secret: SecretRecord, stage: string, version: VersionRecord): void {
    const old = this.holder(secret, stage);
    if (old === version) return;
    old?.stages.delete(stage);
    version.stages.add(stage);
    if (stage === AWSCURRENT && old) {
      this.holder(secret, AWSPREVIOUS)?.stages.delete(AWSPREVIOUS);
      old.stages.add(AWSPREVIOUS);
    }
    secret.lastChanged = this.ctx.clock.now();
  }

  stagesMap(secret: SecretRecord): Record<string, string[]> {
    const out: Record<string, string[]> = {};
    for (const v of secret.versions.values()) if (v.stages.size > 0) out[v.versionId] = [...v.stages];
    return out;
  }

  nextRotation(secret: SecretRecord): Date | undefined {
    if (!secret.rotationEnabled) return undefined;
    const rules = secret.rotationRules;
    let days = rules?.AutomaticallyAfterDays;
    const rate = rules?.ScheduleExpression?.match(/^rate\((\d+) days?\)$/);
    if (days === undefined && rate?.[1]) days = Number(rate[1]);
    if (days === undefined) return undefined;
    const from = secret.lastRotated ?? secret.created;
    return new Date(from.getTime() + days * 86_400_000);
  }

  private describe(s: SecretRecord): SecretListEntry {
    const out: SecretListEntry = {
      ARN: s.arn,
      Name: s.name,
      RotationEnabled: s.rotationEnabled,
      LastChangedDate: s.lastChanged,
      CreatedDate: s.created,
      Tags: toTags(s.tags),
    };
    if (s.description !== undefined) out.Description = s.description;
    if (s.rotationLambdaArn !== undefined) out.RotationLambdaARN = s.rotationLambdaArn;
    if (s.rotationRules !== undefined) out.RotationRules = { ...s.rotationRules };
    if (s.lastRotated !== undefined) out.LastRotatedDate = s.lastRotated;
    if (s.lastAccessed !== undefined) out.LastAccessedDate = s.lastAccessed;
    if (s.deleted !== undefined) out.DeletedDate = s.deleted;
    const next = this.nextRotation(s);
    if (next) out.NextRotationDate = next;
    return out;
  }

  private matches(s: SecretRecord, filters: Array<{ Key?: string; Values?: string[] }>): boolean {
    for (const f of filters) {
      const values = f.Values ?? [];
      const hit = values.some((raw) => {
        const negate = raw.startsWith('!');
        const v = negate ? raw.slice(1) : raw;
        let found: boolean;
        switch (f.Key) {
          case 'name':
            found = s.name.startsWith(v);
            break;
          case 'description':
            found = (s.description ?? '').toLowerCase().startsWith(v.toLowerCase());
            break;
          case 'tag-key':
            found = [...s.tags.keys()].some((k) => k.startsWith(v));
            break;
          case 'tag-value':
            found = [...s.tags.values()].some((k) => k.startsWith(v));
            break;
          case 'primary-region':
            found = this.ctx.region.startsWith(v);
            break;
          case 'owning-service':
            found = false;
            break;
          case 'all': {
            const words = v
              .toLowerCase()
              .split(/[^a-z0-9]+/)
              .filter(Boolean);
            const hay = [s.name, s.description ?? '', ...s.tags.keys(), ...s.tags.values()]
              .join(' ')
              .toLowerCase();
            found = words.every((w) => hay.includes(w));
            break;
          }
          default:
            throw invalidParam(`Invalid filter key: ${String(f.Key)}`);
        }
        return negate ? !found : found;
      });
      if (!hit) return false;
    }
    return true;
  }

  // ---------- rotation engine

  /**
   * Starts a rotation as Secrets Manager does: the AWSPENDING version (VersionId = token) is
   * staged now, synchronously, so a concurrent RotateSecret is refused; the four steps run later.
   */
  beginRotation(secret: SecretRecord, token: string): Rotation {
    const version = secret.versions.get(token) ?? this.addVersion(secret, token);
    this.attach(secret, AWSPENDING, version);
    const rotation: Rotation = {
      secretArn: secret.arn,
      token,
      attempts: 0,
      outcome: 'running',
      errors: [],
      started: false,
    };
    this.rotations.push(rotation);
    return rotation;
  }

  /** Runs (or schedules, in deferred mode) a begun rotation. */
  launch(rotation: Rotation): Promise<void> | undefined {
    if (this.mode === 'sync') return this.start(rotation);
    rotation.cancelTimer = this.ctx.clock.at(this.ctx.clock.nowMs() + 1_000, () => {
      void this.start(rotation);
    });
    return undefined;
  }

  start(rotation: Rotation): Promise<void> {
    if (!rotation.done) {
      rotation.started = true;
      rotation.cancelTimer?.();
      rotation.done = this.run(rotation);
    }
    return rotation.done;
  }

  /** Deferred mode: start every waiting rotation now and wait for all of them. */
  async runPending(): Promise<void> {
    for (;;) {
      const running = this.rotations.filter((r) => r.outcome === 'running');
      if (running.length === 0) return;
      await Promise.all(running.map((r) => this.start(r)));
    }
  }

  private async run(rotation: Rotation): Promise<void> {
    const secret = this.byArn.get(rotation.secretArn);
    for (let attempt = 1; attempt <= this.attempts; attempt++) {
      rotation.attempts = attempt;
      try {
        if (!secret || !this.byArn.has(secret.arn)) throw notFound();
        const arn = secret.rotationLambdaArn;
        const fn = arn === undefined ? undefined : this.functions.get(arn);
        if (!fn) throw new Error('Secrets Manager cannot invoke the specified Lambda function.');
        const rotationToken = this.ctx.rng.string(64, ALNUM);
        for (const Step of ROTATION_STEPS) {
          await fn({
            Step,
            SecretId: secret.arn,
            ClientRequestToken: rotation.token,
            RotationToken: rotationToken,
          });
        }
        const version = secret.versions.get(rotation.token);
        if (!version?.stages.has(AWSCURRENT)) {
          throw new Error(`finishSecret did not move ${AWSCURRENT} to version ${rotation.token}`);
        }
        // Secrets Manager itself takes AWSPENDING off once the rotation has succeeded.
        version.stages.delete(AWSPENDING);
        secret.lastRotated = this.ctx.clock.now();
        rotation.outcome = 'succeeded';
        return;
      } catch (err) {
        rotation.errors.push(err instanceof Error ? `${err.name}: ${err.message}` : String(err));
        // Secrets Manager retries the whole rotation, from createSecret, with the same token.
        if (attempt < this.attempts) await this.ctx.clock.sleep(30_000 * attempt);
      }
    }
    rotation.outcome = 'failed';
  }

  /** A rotation blocks new ones while some version carries AWSPENDING without AWSCURRENT. */
  private pending(secret: SecretRecord): VersionRecord | undefined {
    const v = this.holder(secret, AWSPENDING);
    return v && !v.stages.has(AWSCURRENT) ? v : undefined;
  }

  /** Scheduled rotation: start a rotation for every secret whose NextRotationDate has passed. */
  runScheduled(): Promise<void> {
    const now = this.ctx.clock.nowMs();
    const started: Promise<void>[] = [];
    for (const s of this.order) {
      const next = this.nextRotation(s);
      if (s.deleted || !next || next.getTime() > now || this.pending(s)) continue;
      if (s.rotationLambdaArn === undefined || !this.functions.has(s.rotationLambdaArn)) continue;
      const p = this.launch(this.beginRotation(s, this.ctx.rng.uuid()));
      if (p) started.push(p);
    }
    return Promise.all(started).then(() => undefined);
  }

  // ---------- operations

  ops(): Array<[CommandClass, OpSpec]> {
    const secretValue = (input: { SecretString?: string; SecretBinary?: Uint8Array }) => {
      if (input.SecretString === undefined && input.SecretBinary === undefined) {
        throw invalidParam('You must provide either SecretString or SecretBinary.');
      }
    };
    return [
      op('secretsManager', CreateSecretCommand, (input) => {
        if (!input.Name)
          throw invalidParam(
            'Invalid name. Must be a valid name containing alphanumeric characters, or any of the following: -/_+=.@!',
          );
        const tags = new Map<string, string>();
        for (const t of input.Tags ?? []) if (t.Key !== undefined) tags.set(t.Key, t.Value ?? '');
        const s = this.create({
          name: input.Name,
          ...(input.SecretString !== undefined && { value: input.SecretString }),
          ...(input.SecretBinary !== undefined && { binary: input.SecretBinary }),
          ...(input.ClientRequestToken !== undefined && { token: input.ClientRequestToken }),
          ...(input.Description !== undefined && { description: input.Description }),
          tags,
        });
        const v = this.holder(s, AWSCURRENT);
        return { ARN: s.arn, Name: s.name, ...(v && { VersionId: v.versionId }) };
      }),
      op('secretsManager', DescribeSecretCommand, (input) => {
        const s = this.require(input.SecretId, true);
        return { ...this.describe(s), VersionIdsToStages: this.stagesMap(s) };
      }),
      op('secretsManager', UpdateSecretCommand, (input) => {
        const s = this.require(input.SecretId);
        if (input.Description !== undefined) s.description = input.Description;
        let versionId: string | undefined;
        if (input.SecretString !== undefined || input.SecretBinary !== undefined) {
          const v = this.addVersion(s, input.ClientRequestToken ?? this.ctx.rng.uuid());
          if (input.SecretString !== undefined) v.value = input.SecretString;
          if (input.SecretBinary !== undefined) v.binary = input.SecretBinary;
          this.attach(s, AWSCURRENT, v);
          versionId = v.versionId;
        }
        s.lastChanged = this.ctx.clock.now();
        return { ARN: s.arn, Name: s.name, ...(versionId && { VersionId: versionId }) };
      }),
      op('secretsManager', GetSecretValueCommand, (input) => {
        const s = this.require(input.SecretId);
        let v: VersionRecord | undefined;
        if (input.VersionId !== undefined) {
          v = s.versions.get(input.VersionId);
          if (input.VersionStage !== undefined && v && !v.stages.has(input.VersionStage)) v = undefined;
          if (!v || (v.value === undefined && v.binary === undefined)) {
            throw notFound(
              `Secrets Manager can't find the specified secret value for VersionId: ${input.VersionId}`,
            );
          }
        } else {
          const stage = input.VersionStage ?? AWSCURRENT;
          v = this.holder(s, stage);
          if (!v || (v.value === undefined && v.binary === undefined)) {
            throw notFound(
              `Secrets Manager can't find the specified secret value for staging label: ${stage}`,
            );
          }
        }
        s.lastAccessed = new Date(Math.floor(this.ctx.clock.nowMs() / 86_400_000) * 86_400_000);
        return {
          ARN: s.arn,
          Name: s.name,
          VersionId: v.versionId,
          ...(v.value !== undefined && { SecretString: v.value }),
          ...(v.binary !== undefined && { SecretBinary: v.binary }),
          VersionStages: [...v.stages],
          CreatedDate: v.created,
        };
      }),
      op('secretsManager', PutSecretValueCommand, (input) => {
        const s = this.require(input.SecretId);
        secretValue(input);
        const token = input.ClientRequestToken ?? this.ctx.rng.uuid();
        const stages = input.VersionStages ?? [AWSCURRENT];
        let v = s.versions.get(token);
        if (v && (v.value !== undefined || v.binary !== undefined)) {
          // Idempotent retry: the same token with the same value succeeds and changes nothing.
          if (v.value === input.SecretString && sameBytes(v.binary, input.SecretBinary)) {
            return { ARN: s.arn, Name: s.name, VersionId: v.versionId, VersionStages: [...v.stages] };
          }
          throw new ResourceExistsException({
            message: "You can't modify an existing version, you can only create a new version.",
            $metadata: meta(400),
          });
        }
        v ??= this.addVersion(s, token);
        if (input.SecretString !== undefined) v.value = input.SecretString;
        if (input.SecretBinary !== undefined) v.binary = input.SecretBinary;
        for (const stage of stages) this.attach(s, stage, v);
        s.lastChanged = this.ctx.clock.now();
        return { ARN: s.arn, Name: s.name, VersionId: v.versionId, VersionStages: [...v.stages] };
      }),
      op('secretsManager', UpdateSecretVersionStageCommand, (input) => {
        const s = this.require(input.SecretId);
        const stage = input.VersionStage;
        if (!stage) throw invalidParam('You must specify a staging label.');
        const move = input.MoveToVersionId;
        const remove = input.RemoveFromVersionId;
        if (move === undefined && remove === undefined) {
          throw invalidParam('You must specify either MoveToVersionId or RemoveFromVersionId.');
        }
        const target = move === undefined ? undefined : s.versions.get(move);
        if (move !== undefined && !target)
          throw notFound(`Secrets Manager can't find the specified secret version: ${move}`);
        const from = remove === undefined ? undefined : s.versions.get(remove);
        if (remove !== undefined && !from) {
          throw notFound(`Secrets Manager can't find the specified secret version: ${remove}`);
        }
        if (from && !from.stages.has(stage)) {
          throw invalidParam(`The staging label ${stage} is not attached to version ${remove}.`);
        }
        if (!target) {
          if (stage === AWSCURRENT) {
            throw invalidParam(
              `You can't remove the staging label ${AWSCURRENT} from a version; move it to another version instead.`,
            );
          }
          from?.stages.delete(stage);
          s.lastChanged = this.ctx.clock.now();
          return { ARN: s.arn, Name: s.name };
        }
        const current = this.holder(s, stage);
        if (current && current !== target && current !== from) {
          throw invalidParam(
            `The staging label ${stage} is currently attached to version ${current.versionId}, so you must explicitly reference that version in RemoveFromVersionId.`,
          );
        }
        this.attach(s, stage, target);
        return { ARN: s.arn, Name: s.name };
      }),
      op('secretsManager', ListSecretVersionIdsCommand, (input) => {
        const s = this.require(input.SecretId, true);
        const all = [...s.versions.values()].filter((v) => input.IncludeDeprecated || v.stages.size > 0);
        const max = input.MaxResults ?? 100;
        if (max < 1 || max > 100) throw invalidParam('MaxResults must be between 1 and 100.');
        const { page, next } = paginate(
          all,
          input.NextToken,
          max,
          (v) => v.versionId,
          () => invalidParam('Invalid NextToken.'),
        );
        return {
          ARN: s.arn,
          Name: s.name,
          Versions: page.map((v) => ({
            VersionId: v.versionId,
            VersionStages: [...v.stages],
            CreatedDate: v.created,
          })),
          ...(next !== undefined && { NextToken: next }),
        };
      }),
      op('secretsManager', ListSecretsCommand, (input) => {
        const max = input.MaxResults ?? 100;
        if (!Number.isInteger(max) || max < 1 || max > 100) {
          throw invalidParam('MaxResults must be between 1 and 100.');
        }
        const filters = input.Filters ?? [];
        let all = this.order.filter((s) => input.IncludePlannedDeletion || !s.deleted);
        if (filters.length > 0) all = all.filter((s) => this.matches(s, filters));
        if (input.SortOrder === 'desc') all.reverse();
        const { page, next } = paginate(
          all,
          input.NextToken,
          max,
          (s) => s.arn,
          () => invalidParam('Invalid NextToken.'),
        );
        return {
          SecretList: page.map((s) => ({ ...this.describe(s), SecretVersionsToStages: this.stagesMap(s) })),
          ...(next !== undefined && { NextToken: next }),
        };
      }),
      op('secretsManager', TagResourceCommand, (input) => {
        const s = this.require(input.SecretId);
        for (const t of input.Tags ?? []) if (t.Key !== undefined) s.tags.set(t.Key, t.Value ?? '');
        return {};
      }),
      op('secretsManager', UntagResourceCommand, (input) => {
        const s = this.require(input.SecretId);
        for (const k of input.TagKeys ?? []) s.tags.delete(k);
        return {};
      }),
      op('secretsManager', DeleteSecretCommand, (input) => {
        const s = this.require(input.SecretId, true);
        const now = this.ctx.clock.nowMs();
        if (input.ForceDeleteWithoutRecovery) {
          this.byName.delete(s.name);
          this.byArn.delete(s.arn);
          this.order.splice(this.order.indexOf(s), 1);
          return { ARN: s.arn, Name: s.name, DeletionDate: new Date(now) };
        }
        const days = input.RecoveryWindowInDays ?? 30;
        s.deleted ??= new Date(now);
        return { ARN: s.arn, Name: s.name, DeletionDate: new Date(s.deleted.getTime() + days * 86_400_000) };
      }),
      op('secretsManager', RestoreSecretCommand, (input) => {
        const s = this.require(input.SecretId, true);
        delete s.deleted;
        return { ARN: s.arn, Name: s.name };
      }),
      op('secretsManager', CancelRotateSecretCommand, (input) => {
        const s = this.require(input.SecretId);
        // Like AWS: rotation is switched off, but AWSPENDING stays where it is.
        s.rotationEnabled = false;
        const pending = this.pending(s);
        return { ARN: s.arn, Name: s.name, ...(pending && { VersionId: pending.versionId }) };
      }),
      op('secretsManager', RotateSecretCommand, (input) => {
        const s = this.require(input.SecretId);
        const arn = input.RotationLambdaARN ?? s.rotationLambdaArn;
        if (arn === undefined) {
          throw invalidRequest('No Lambda rotation function ARN is associated with this secret.');
        }
        if (!this.functions.has(arn)) {
          throw serviceError(
            'secretsManager',
            'AccessDeniedException',
            'Secrets Manager cannot invoke the specified Lambda function. Ensure that the function policy grants access to the principal secretsmanager.amazonaws.com.',
          );
        }
        const immediately = input.RotateImmediately ?? true;
        if (immediately && this.pending(s)) {
          throw invalidRequest("A previous rotation isn't complete. That rotation will be reattempted.");
        }
        s.rotationLambdaArn = arn;
        if (input.RotationRules) s.rotationRules = { ...input.RotationRules };
        s.rotationEnabled = true;
        s.lastChanged = this.ctx.clock.now();
        if (!immediately) return { ARN: s.arn, Name: s.name };
        const token = input.ClientRequestToken ?? this.ctx.rng.uuid();
        const rotation = this.beginRotation(s, token);
        const running = this.launch(rotation);
        // Sync mode: the steps (with their retries) run before RotateSecret answers; a failed
        // rotation still answers success, as AWS does (the failure shows in the rotation record).
        return (running ?? Promise.resolve()).then(() => ({ ARN: s.arn, Name: s.name, VersionId: token }));
      }),
    ];
  }
}

import type { Tag, User, UserDetail } from '@aws-sdk/client-iam';
import {
  AddUserToGroupCommand,
  CreateAccessKeyCommand,
  CreateGroupCommand,
  CreateUserCommand,
  DeleteAccessKeyCommand,
  DeleteConflictException,
  DeleteUserCommand,
  EntityAlreadyExistsException,
  GetAccessKeyLastUsedCommand,
  GetAccountAuthorizationDetailsCommand,
  GetGroupCommand,
  GetUserCommand,
  LimitExceededException,
  ListAccessKeysCommand,
  ListAccountAliasesCommand,
  ListGroupsForUserCommand,
  ListUsersCommand,
  ListUserTagsCommand,
  NoSuchEntityException,
  RemoveUserFromGroupCommand,
  TagUserCommand,
  UntagUserCommand,
  UpdateAccessKeyCommand,
} from '@aws-sdk/client-iam';
import type { Caller, CommandClass, KeyRecord, OpSpec, SimContext } from './context.js';
import { op, paginate } from './context.js';
import { meta, validationError } from './errors.js';
import { BASE32, SECRET_ALPHABET } from './rng.js';

export interface UserRecord {
  name: string;
  arn: string;
  userId: string;
  path: string;
  tags: Map<string, string>;
  groups: Set<string>;
  created: Date;
  password: { lastUsed: Date | null; lastChanged: Date } | null;
  mfa: boolean;
  /** Live keys, oldest first (at most two). */
  keys: KeyRecord[];
  deleted?: Date;
}

export interface GroupRecord {
  name: string;
  arn: string;
  groupId: string;
  path: string;
  created: Date;
  members: Set<string>;
}

export const MAX_KEYS_PER_USER = 2;
const USER_NAME = /^[\w+=,.@-]{1,64}$/;
const noSuchUser = (name: string) =>
  new NoSuchEntityException({ message: `The user with name ${name} cannot be found.`, $metadata: meta(404) });
const noSuchKey = (id: string) =>
  new NoSuchEntityException({
    message: `The Access Key with id ${id} cannot be found.`,
    $metadata: meta(404),
  });
const noSuchGroup = (name: string) =>
  new NoSuchEntityException({
    message: `The group with name ${name} cannot be found.`,
    $metadata: meta(404),
  });

const toTags = (tags: Map<string, string>): Tag[] => [...tags].map(([Key, Value]) => ({ Key, Value }));

/** IAM: users, groups, tags, access keys and their last use. */
export class IamModel {
  /** By lower-cased name: IAM user names are unique regardless of case. */
  readonly users = new Map<string, UserRecord>();
  /** Creation order, for listing. */
  readonly userOrder: UserRecord[] = [];
  readonly deletedUsers = new Map<string, UserRecord>();
  readonly groups = new Map<string, GroupRecord>();
  readonly keys = new Map<string, KeyRecord>();
  /** Every secret access key ever issued (seeded or created), for leak checks. */
  readonly issued: string[] = [];

  /** The account alias (ListAccountAliases), if any. */
  alias: string | undefined;

  constructor(private readonly ctx: SimContext) {}

  // ---------- state helpers (seeding uses these too)

  findUser(name: string | undefined): UserRecord | undefined {
    return name === undefined ? undefined : this.users.get(name.toLowerCase());
  }

  requireUser(name: string | undefined): UserRecord {
    const user = this.findUser(name);
    if (!user) throw noSuchUser(name ?? '');
    return user;
  }

  createUser(
    name: string,
    o: { path?: string; tags?: Record<string, string>; created?: Date } = {},
  ): UserRecord {
    if (!USER_NAME.test(name)) {
      throw validationError(
        'iam',
        `1 validation error detected: Value '${name}' at 'userName' failed to satisfy constraint: Member must satisfy regular expression pattern: [\\w+=,.@-]+`,
      );
    }
    if (this.users.has(name.toLowerCase())) {
      throw new EntityAlreadyExistsException({
        message: `User with name ${name} already exists.`,
        $metadata: meta(409),
      });
    }
    const path = o.path ?? '/';
    const user: UserRecord = {
      name,
      arn: `arn:aws:iam::${this.ctx.accountId}:user${path}${name}`,
      userId: `AIDA${this.ctx.rng.string(17, BASE32)}`,
      path,
      tags: new Map(Object.entries(o.tags ?? {})),
      groups: new Set(),
      created: o.created ?? this.ctx.clock.now(),
      password: null,
      mfa: false,
      keys: [],
    };
    this.users.set(name.toLowerCase(), user);
    this.userOrder.push(user);
    return user;
  }

  createGroup(name: string, path = '/'): GroupRecord {
    const existing = this.groups.get(name.toLowerCase());
    if (existing) {
      throw new EntityAlreadyExistsException({
        message: `Group with name ${name} already exists.`,
        $metadata: meta(409),
      });
    }
    const group: GroupRecord = {
      name,
      arn: `arn:aws:iam::${this.ctx.accountId}:group${path}${name}`,
      groupId: `AGPA${this.ctx.rng.string(17, BASE32)}`,
      path,
      created: this.ctx.clock.now(),
      members: new Set(),
    };
    this.groups.set(name.toLowerCase(), group);
    return group;
  }

  addToGroup(user: UserRecord, groupName: string): void {
    const group = this.groups.get(groupName.toLowerCase());
    if (!group) throw noSuchGroup(groupName);
    user.groups.add(group.name);
    group.members.add(user.name);
  }

  createKey(user: UserRecord, created: Date, usableAt: number): KeyRecord {
    if (user.keys.length >= MAX_KEYS_PER_USER) {
      throw new LimitExceededException({
        message: `Cannot exceed quota for AccessKeysPerUser: ${MAX_KEYS_PER_USER}`,
        $metadata: meta(409),
      });
    }
    const key: KeyRecord = {
      accessKeyId: this.newKeyId(),
      secretAccessKey: this.ctx.rng.string(40, SECRET_ALPHABET),
      status: 'Active',
      created,
      lastUsed: null,
      lastUsedService: null,
      lastUsedRegion: null,
      userName: user.name,
      usableAt,
    };
    this.keys.set(key.accessKeyId, key);
    this.issued.push(key.secretAccessKey);
    user.keys.push(key);
    user.keys.sort((a, b) => a.created.getTime() - b.created.getTime());
    return key;
  }

  private newKeyId(): string {
    for (;;) {
      const id = `AKIA${this.ctx.rng.string(16, BASE32)}`;
      if (!this.keys.has(id)) return id;
    }
  }

  /** The key, if it belongs to `userName` (when given). */
  private requireKey(id: string | undefined, userName: string | undefined, caller: Caller): KeyRecord {
    const key = id === undefined ? undefined : this.keys.get(id);
    if (!key) throw noSuchKey(id ?? '');
    const owner = userName ?? (caller.operator ? undefined : caller.key.userName);
    if (owner !== undefined) {
      const user = this.requireUser(owner);
      if (user.name !== key.userName) throw noSuchKey(key.accessKeyId);
    }
    return key;
  }

  private callerUser(userName: string | undefined, caller: Caller): UserRecord {
    if (userName !== undefined) return this.requireUser(userName);
    if (caller.operator) {
      throw validationError('iam', 'Must specify userName when calling with non-User credentials');
    }
    return this.requireUser(caller.key.userName);
  }

  userShape(user: UserRecord): User {
    const out: User = {
      Path: user.path,
      UserName: user.name,
      UserId: user.userId,
      Arn: user.arn,
      CreateDate: user.created,
    };
    if (user.password?.lastUsed) out.PasswordLastUsed = user.password.lastUsed;
    return out;
  }

  userDetail(user: UserRecord): UserDetail {
    return {
      Path: user.path,
      UserName: user.name,
      UserId: user.userId,
      Arn: user.arn,
      CreateDate: user.created,
      UserPolicyList: [],
      GroupList: [...user.groups],
      AttachedManagedPolicies: [],
      Tags: toTags(user.tags),
    };
  }

  // ---------- operations

  ops(): Array<[CommandClass, OpSpec]> {
    const maxItems = (n: number | undefined) => {
      if (n === undefined) return 100;
      if (!Number.isInteger(n) || n < 1 || n > 1000) {
        throw validationError(
          'iam',
          `1 validation error detected: Value '${n}' at 'maxItems' failed to satisfy constraint: Member must have value less than or equal to 1000`,
        );
      }
      return n;
    };
    const badMarker = () => validationError('iam', 'Invalid Marker.');
    return [
      op('iam', CreateUserCommand, (input) => {
        const tags: Record<string, string> = {};
        for (const t of input.Tags ?? []) if (t.Key !== undefined) tags[t.Key] = t.Value ?? '';
        const user = this.createUser(input.UserName ?? '', { path: input.Path ?? '/', tags });
        return { User: { ...this.userShape(user), Tags: toTags(user.tags) } };
      }),
      op('iam', GetUserCommand, (input, caller) => {
        const user = this.callerUser(input.UserName, caller);
        return { User: { ...this.userShape(user), Tags: toTags(user.tags) } };
      }),
      op('iam', ListUsersCommand, (input) => {
        const prefix = input.PathPrefix ?? '/';
        const all = prefix === '/' ? this.userOrder : this.userOrder.filter((u) => u.path.startsWith(prefix));
        const { page, next } = paginate(
          all,
          input.Marker,
          maxItems(input.MaxItems),
          (u) => u.name,
          badMarker,
        );
        return {
          Users: page.map((u) => this.userShape(u)),
          IsTruncated: next !== undefined,
          ...(next !== undefined && { Marker: next }),
        };
      }),
      op('iam', DeleteUserCommand, (input) => {
        const user = this.requireUser(input.UserName);
        if (user.keys.length > 0) {
          throw new DeleteConflictException({
            message: 'Cannot delete entity, must delete access keys first.',
            $metadata: meta(409),
          });
        }
        if (user.groups.size > 0) {
          throw new DeleteConflictException({
            message: 'Cannot delete entity, must remove users from group first.',
            $metadata: meta(409),
          });
        }
        this.users.delete(user.name.toLowerCase());
        this.userOrder.splice(this.userOrder.indexOf(user), 1);
        user.deleted = this.ctx.clock.now();
        this.deletedUsers.set(user.name.toLowerCase(), user);
        return {};
      }),
      op('iam', TagUserCommand, (input) => {
        const user = this.requireUser(input.UserName);
        const next = new Map(user.tags);
        for (const t of input.Tags ?? []) if (t.Key !== undefined) next.set(t.Key, t.Value ?? '');
        if (next.size > 50) {
          throw new LimitExceededException({
            message: 'Cannot exceed quota for TagsPerUser: 50',
            $metadata: meta(409),
          });
        }
        user.tags = next;
        return {};
      }),
      op('iam', UntagUserCommand, (input) => {
        const user = this.requireUser(input.UserName);
        for (const k of input.TagKeys ?? []) user.tags.delete(k);
        return {};
      }),
      op('iam', ListUserTagsCommand, (input) => {
        const user = this.requireUser(input.UserName);
        const { page, next } = paginate(
          toTags(user.tags),
          input.Marker,
          maxItems(input.MaxItems),
          (t) => t.Key ?? '',
          badMarker,
        );
        return { Tags: page, IsTruncated: next !== undefined, ...(next !== undefined && { Marker: next }) };
      }),
      op('iam', CreateGroupCommand, (input) => {
        const g = this.createGroup(input.GroupName ?? '', input.Path ?? '/');
        return {
          Group: { Path: g.path, GroupName: g.name, GroupId: g.groupId, Arn: g.arn, CreateDate: g.created },
        };
      }),
      op('iam', GetGroupCommand, (input) => {
        const g = this.groups.get((input.GroupName ?? '').toLowerCase());
        if (!g) throw noSuchGroup(input.GroupName ?? '');
        const members = [...g.members].flatMap((n) => {
          const u = this.findUser(n);
          return u ? [this.userShape(u)] : [];
        });
        return {
          Group: { Path: g.path, GroupName: g.name, GroupId: g.groupId, Arn: g.arn, CreateDate: g.created },
          Users: members,
          IsTruncated: false,
        };
      }),
      op('iam', AddUserToGroupCommand, (input) => {
        this.addToGroup(this.requireUser(input.UserName), input.GroupName ?? '');
        return {};
      }),
      op('iam', RemoveUserFromGroupCommand, (input) => {
        const user = this.requireUser(input.UserName);
        const g = this.groups.get((input.GroupName ?? '').toLowerCase());
        if (!g) throw noSuchGroup(input.GroupName ?? '');
        if (!user.groups.has(g.name)) {
          throw new NoSuchEntityException({
            message: `User ${user.name} is not in group ${g.name}.`,
            $metadata: meta(404),
          });
        }
        user.groups.delete(g.name);
        g.members.delete(user.name);
        return {};
      }),
      op('iam', ListGroupsForUserCommand, (input) => {
        const user = this.requireUser(input.UserName);
        const groups = [...user.groups].flatMap((n) => {
          const g = this.groups.get(n.toLowerCase());
          return g
            ? [{ Path: g.path, GroupName: g.name, GroupId: g.groupId, Arn: g.arn, CreateDate: g.created }]
            : [];
        });
        return { Groups: groups, IsTruncated: false };
      }),
      op('iam', CreateAccessKeyCommand, (input, caller) => {
        const user = this.callerUser(input.UserName, caller);
        const now = this.ctx.clock.now();
        const key = this.createKey(user, now, now.getTime() + this.ctx.propagationDelayMs);
        return {
          AccessKey: {
            UserName: user.name,
            AccessKeyId: key.accessKeyId,
            Status: 'Active' as const,
            SecretAccessKey: key.secretAccessKey,
            CreateDate: key.created,
          },
        };
      }),
      op('iam', UpdateAccessKeyCommand, (input, caller) => {
        if (input.Status !== 'Active' && input.Status !== 'Inactive') {
          throw validationError(
            'iam',
            `1 validation error detected: Value '${String(input.Status)}' at 'status' failed to satisfy constraint: Member must satisfy enum value set: [Active, Inactive]`,
          );
        }
        const key = this.requireKey(input.AccessKeyId, input.UserName, caller);
        key.status = input.Status;
        return {};
      }),
      op('iam', DeleteAccessKeyCommand, (input, caller) => {
        const key = this.requireKey(input.AccessKeyId, input.UserName, caller);
        this.keys.delete(key.accessKeyId);
        const user = this.findUser(key.userName);
        if (user) user.keys = user.keys.filter((k) => k !== key);
        return {};
      }),
      op('iam', ListAccessKeysCommand, (input, caller) => {
        if (input.UserName === undefined && caller.operator)
          return { AccessKeyMetadata: [], IsTruncated: false };
        const user = this.callerUser(input.UserName, caller);
        return {
          AccessKeyMetadata: user.keys.map((k) => ({
            UserName: user.name,
            AccessKeyId: k.accessKeyId,
            Status: k.status,
            CreateDate: k.created,
          })),
          IsTruncated: false,
        };
      }),
      op('iam', GetAccessKeyLastUsedCommand, (input) => {
        const key = input.AccessKeyId === undefined ? undefined : this.keys.get(input.AccessKeyId);
        if (!key) throw noSuchKey(input.AccessKeyId ?? '');
        return {
          UserName: key.userName,
          AccessKeyLastUsed: key.lastUsed
            ? {
                LastUsedDate: key.lastUsed,
                ServiceName: key.lastUsedService ?? 'N/A',
                Region: key.lastUsedRegion ?? 'N/A',
              }
            : { ServiceName: 'N/A', Region: 'N/A' },
        };
      }),
      op('iam', ListAccountAliasesCommand, () => ({
        AccountAliases: this.alias === undefined ? [] : [this.alias],
        IsTruncated: false,
      })),
      op('iam', GetAccountAuthorizationDetailsCommand, (input) => {
        const wantUsers =
          input.Filter === undefined || input.Filter.length === 0 || input.Filter.includes('User');
        const { page, next } = paginate(
          wantUsers ? this.userOrder : [],
          input.Marker,
          maxItems(input.MaxItems),
          (u) => u.name,
          badMarker,
        );
        return {
          UserDetailList: page.map((u) => this.userDetail(u)),
          GroupDetailList: [],
          RoleDetailList: [],
          Policies: [],
          IsTruncated: next !== undefined,
          ...(next !== undefined && { Marker: next }),
        };
      }),
    ];
  }
}

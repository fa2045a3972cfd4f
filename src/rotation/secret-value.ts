import { inspect } from 'node:util';
import { SecretFormatError } from '../errors.js';
import { IAM_USER_NAME } from '../tags.js';

/**
 * The key pair a bound secret holds (DESIGN.md, "Secret value"). Two shapes exist in the wild:
 * ours (`UserName`, `AccessKeyId`, `SecretAccessKey`) and the one hand-written rotation Lambdas
 * used before (`username`, `accesskey`, `secretkey`). A new version is written in the shape the
 * secret already uses, with every other field kept as it was.
 */
export type SecretShape = 'standard' | 'legacy';

interface FieldNames {
  userName: string;
  accessKeyId: string;
  secretAccessKey: string;
}

const FIELDS: Record<SecretShape, FieldNames> = {
  standard: { userName: 'UserName', accessKeyId: 'AccessKeyId', secretAccessKey: 'SecretAccessKey' },
  legacy: { userName: 'username', accessKeyId: 'accesskey', secretAccessKey: 'secretkey' },
};

/** Long-term IAM access key ids: AKIA followed by upper-case letters and digits. */
const ACCESS_KEY_ID = /^AKIA[A-Z0-9]{12,124}$/;

/**
 * A parsed secret value. It holds a secret access key, so it redacts itself when serialised or
 * inspected: passing one to the logger by mistake cannot leak the secret (invariant 6).
 */
export class ParsedSecret {
  constructor(
    readonly shape: SecretShape,
    readonly userName: string,
    readonly accessKeyId: string,
    readonly secretAccessKey: string,
    /** Every field of the value as stored, the key pair included. */
    readonly fields: Readonly<Record<string, unknown>>,
  ) {}

  toJSON(): Record<string, string> {
    return { shape: this.shape, userName: this.userName, accessKeyId: this.accessKeyId };
  }

  [inspect.custom](): string {
    return `ParsedSecret ${JSON.stringify(this.toJSON())}`;
  }
}

function detectShape(fields: Record<string, unknown>): SecretShape {
  const has = (shape: SecretShape) => Object.values(FIELDS[shape]).some((name) => name in fields);
  const standard = has('standard');
  const legacy = has('legacy');
  if (standard && legacy) {
    throw new SecretFormatError(
      'secret value mixes the standard fields (UserName, AccessKeyId, SecretAccessKey) with the older ' +
        'ones (username, accesskey, secretkey); keep one shape so the rotator knows which key to replace',
    );
  }
  if (standard) return 'standard';
  if (legacy) return 'legacy';
  throw new SecretFormatError(
    'secret value has neither the standard fields (UserName, AccessKeyId, SecretAccessKey) nor the older ' +
      'ones (username, accesskey, secretkey)',
  );
}

function stringField(fields: Record<string, unknown>, name: string): string {
  const value = fields[name];
  if (value === undefined) throw new SecretFormatError(`secret value has no field ${name}`);
  if (typeof value !== 'string') throw new SecretFormatError(`secret value field ${name} is not a string`);
  if (value.trim() === '') throw new SecretFormatError(`secret value field ${name} is empty`);
  return value;
}

/**
 * Parses a secret string in either shape. Errors say which field is wrong and never include the
 * secret string or any value from it.
 */
export function parseSecretValue(secretString: string): ParsedSecret {
  let data: unknown;
  try {
    data = JSON.parse(secretString);
  } catch {
    // The parser's message quotes the input: do not pass it on as the cause.
    throw new SecretFormatError('secret value is not valid JSON');
  }
  if (typeof data !== 'object' || data === null || Array.isArray(data)) {
    throw new SecretFormatError('secret value is not a JSON object');
  }
  const fields = data as Record<string, unknown>;
  const shape = detectShape(fields);
  const names = FIELDS[shape];
  const userName = stringField(fields, names.userName);
  const accessKeyId = stringField(fields, names.accessKeyId);
  const secretAccessKey = stringField(fields, names.secretAccessKey);
  if (!IAM_USER_NAME.test(userName)) {
    throw new SecretFormatError(`secret value field ${names.userName} is not a valid IAM user name`);
  }
  if (!ACCESS_KEY_ID.test(accessKeyId)) {
    throw new SecretFormatError(
      `secret value field ${names.accessKeyId} is not an IAM access key id (expected AKIA followed by upper-case letters and digits)`,
    );
  }
  return new ParsedSecret(shape, userName, accessKeyId, secretAccessKey, fields);
}

/**
 * The secret string for a new key pair: same shape, same user name, every other field untouched
 * and in the same order.
 */
export function withKey(parsed: ParsedSecret, accessKeyId: string, secretAccessKey: string): string {
  if (!ACCESS_KEY_ID.test(accessKeyId)) {
    throw new SecretFormatError(
      `new access key id ${JSON.stringify(accessKeyId)} is not an IAM access key id`,
    );
  }
  if (secretAccessKey === '') throw new SecretFormatError('new secret access key is empty');
  const names = FIELDS[parsed.shape];
  return JSON.stringify({
    ...parsed.fields,
    [names.accessKeyId]: accessKeyId,
    [names.secretAccessKey]: secretAccessKey,
  });
}

import { inspect } from 'node:util';
import { describe, expect, it } from 'vitest';
import { SecretFormatError } from '../../../src/errors.js';
import { parseSecretValue, withKey } from '../../../src/rotation/secret-value.js';

const KEY = 'AKIAEXAMPLEKEY000001';
const SECRET = 'wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY';
const NEW_KEY = 'AKIANEWEXAMPLEKEY002';
const NEW_SECRET = 'newSecretValueThatMustBeStoredVerbatim/+';

function formatError(input: string): SecretFormatError {
  try {
    parseSecretValue(input);
  } catch (err) {
    expect(err).toBeInstanceOf(SecretFormatError);
    const e = err as SecretFormatError;
    expect(e.message).not.toContain(SECRET);
    return e;
  }
  throw new Error('expected a SecretFormatError');
}

describe('parseSecretValue', () => {
  it('reads the standard shape and keeps every field', () => {
    const parsed = parseSecretValue(
      JSON.stringify({ UserName: 'bob', AccessKeyId: KEY, SecretAccessKey: SECRET, Note: 'ci', Port: 5 }),
    );
    expect(parsed).toMatchObject({
      shape: 'standard',
      userName: 'bob',
      accessKeyId: KEY,
      secretAccessKey: SECRET,
    });
    expect(parsed.fields).toEqual({
      UserName: 'bob',
      AccessKeyId: KEY,
      SecretAccessKey: SECRET,
      Note: 'ci',
      Port: 5,
    });
  });

  it('reads the older lower-case shape', () => {
    const parsed = parseSecretValue(
      JSON.stringify({ username: 'svc-build', accesskey: KEY, secretkey: SECRET }),
    );
    expect(parsed).toMatchObject({
      shape: 'legacy',
      userName: 'svc-build',
      accessKeyId: KEY,
      secretAccessKey: SECRET,
    });
  });

  it('accepts user names with every character IAM allows', () => {
    const name = 'a+b=c,d.e@f_g-h';
    expect(
      parseSecretValue(JSON.stringify({ UserName: name, AccessKeyId: KEY, SecretAccessKey: SECRET }))
        .userName,
    ).toBe(name);
  });

  it.each([
    ['not JSON', `{"UserName":"bob","SecretAccessKey":"${SECRET}"`, 'secret value is not valid JSON'],
    ['an array', JSON.stringify([SECRET]), 'secret value is not a JSON object'],
    ['null', 'null', 'secret value is not a JSON object'],
    ['a string', JSON.stringify(SECRET), 'secret value is not a JSON object'],
    [
      'missing AccessKeyId',
      JSON.stringify({ UserName: 'bob', SecretAccessKey: SECRET }),
      'secret value has no field AccessKeyId',
    ],
    [
      'a number for SecretAccessKey',
      JSON.stringify({ UserName: 'bob', AccessKeyId: KEY, SecretAccessKey: 42 }),
      'secret value field SecretAccessKey is not a string',
    ],
    [
      'an empty secretkey',
      JSON.stringify({ username: 'bob', accesskey: KEY, secretkey: '' }),
      'secret value field secretkey is empty',
    ],
    [
      'a malformed key id',
      JSON.stringify({ UserName: 'bob', AccessKeyId: 'ASIA-temporary', SecretAccessKey: SECRET }),
      'secret value field AccessKeyId is not an IAM access key id',
    ],
    [
      'a bad user name',
      JSON.stringify({ UserName: 'bob smith', AccessKeyId: KEY, SecretAccessKey: SECRET }),
      'secret value field UserName is not a valid IAM user name',
    ],
    [
      'both shapes mixed',
      JSON.stringify({ UserName: 'bob', AccessKeyId: KEY, SecretAccessKey: SECRET, secretkey: SECRET }),
      'secret value mixes the standard fields',
    ],
    ['neither shape', JSON.stringify({ user: 'bob', key: KEY, secret: SECRET }), 'secret value has neither'],
  ])('rejects %s, naming the problem and never the secret', (_what, input, message) => {
    expect(formatError(input).message).toContain(message);
  });

  it('does not keep the JSON parser error (it quotes the input) as the cause', () => {
    expect(formatError(`{"SecretAccessKey":"${SECRET}"`).cause).toBeUndefined();
  });

  it('redacts the secret when serialised or inspected', () => {
    const parsed = parseSecretValue(
      JSON.stringify({ UserName: 'bob', AccessKeyId: KEY, SecretAccessKey: SECRET }),
    );
    expect(JSON.stringify({ parsed })).not.toContain(SECRET);
    expect(JSON.stringify({ parsed })).toContain(KEY);
    expect(inspect(parsed)).not.toContain(SECRET);
    expect(`${inspect({ nested: [parsed] }, { depth: 5 })}`).not.toContain(SECRET);
  });
});

describe('withKey', () => {
  it('writes the standard shape with the new pair and every other field in place', () => {
    const parsed = parseSecretValue(
      JSON.stringify({
        Env: 'prod',
        UserName: 'bob',
        AccessKeyId: KEY,
        SecretAccessKey: SECRET,
        Extra: { a: 1 },
      }),
    );
    const out = withKey(parsed, NEW_KEY, NEW_SECRET);
    expect(JSON.parse(out)).toEqual({
      Env: 'prod',
      UserName: 'bob',
      AccessKeyId: NEW_KEY,
      SecretAccessKey: NEW_SECRET,
      Extra: { a: 1 },
    });
    expect(Object.keys(JSON.parse(out))).toEqual([
      'Env',
      'UserName',
      'AccessKeyId',
      'SecretAccessKey',
      'Extra',
    ]);
  });

  it('writes the older shape when the secret uses it, without adding standard fields', () => {
    const parsed = parseSecretValue(
      JSON.stringify({ username: 'svc', accesskey: KEY, secretkey: SECRET, region: 'eu-west-1' }),
    );
    expect(JSON.parse(withKey(parsed, NEW_KEY, NEW_SECRET))).toEqual({
      username: 'svc',
      accesskey: NEW_KEY,
      secretkey: NEW_SECRET,
      region: 'eu-west-1',
    });
  });

  it('round-trips through parseSecretValue', () => {
    const parsed = parseSecretValue(JSON.stringify({ username: 'svc', accesskey: KEY, secretkey: SECRET }));
    const again = parseSecretValue(withKey(parsed, NEW_KEY, NEW_SECRET));
    expect(again).toMatchObject({
      shape: 'legacy',
      userName: 'svc',
      accessKeyId: NEW_KEY,
      secretAccessKey: NEW_SECRET,
    });
  });

  it('refuses a malformed new key id', () => {
    const parsed = parseSecretValue(
      JSON.stringify({ UserName: 'bob', AccessKeyId: KEY, SecretAccessKey: SECRET }),
    );
    expect(() => withKey(parsed, 'not-a-key', NEW_SECRET)).toThrow(SecretFormatError);
  });
});

import { describe, expect, it } from 'vitest';
import { FilterPolicyError, matchesAttributes, matchesBody, parsePolicy } from './sns-filter.js';

const attrs = (o: Record<string, string | number | string[]>) =>
  Object.fromEntries(
    Object.entries(o).map(([k, v]) => [
      k,
      Array.isArray(v)
        ? { DataType: 'String.Array', StringValue: JSON.stringify(v) }
        : typeof v === 'number'
          ? { DataType: 'Number', StringValue: String(v) }
          : { DataType: 'String', StringValue: v },
    ]),
  );
const match = (policy: object, a: Record<string, string | number | string[]>) =>
  matchesAttributes(parsePolicy(JSON.stringify(policy)), attrs(a));

describe('SNS filter policies (MessageAttributes scope)', () => {
  it('matches exact strings, ORed within a key and ANDed across keys', () => {
    const p = { owner: ['a@x.com', 'b@x.com'], severity: ['expired'] };
    expect(match(p, { owner: 'b@x.com', severity: 'expired' })).toBe(true);
    expect(match(p, { owner: 'b@x.com', severity: 'warning' })).toBe(false);
    expect(match(p, { owner: 'c@x.com', severity: 'expired' })).toBe(false);
    // A key the message does not carry never matches (unless exists: false).
    expect(match(p, { owner: 'a@x.com' })).toBe(false);
  });

  it('supports prefix, suffix, equals-ignore-case and anything-but', () => {
    expect(match({ owner: [{ prefix: 'ali' }] }, { owner: 'alice' })).toBe(true);
    expect(match({ owner: [{ prefix: 'bob' }] }, { owner: 'alice' })).toBe(false);
    expect(match({ owner: [{ suffix: '@x.com' }] }, { owner: 'alice@x.com' })).toBe(true);
    expect(match({ owner: [{ 'equals-ignore-case': 'ALICE' }] }, { owner: 'alice' })).toBe(true);
    expect(match({ severity: [{ 'anything-but': ['warning'] }] }, { severity: 'expired' })).toBe(true);
    expect(match({ severity: [{ 'anything-but': ['warning'] }] }, { severity: 'warning' })).toBe(false);
    expect(match({ severity: [{ 'anything-but': 'warning' }] }, { severity: 'warning' })).toBe(false);
    expect(match({ severity: [{ 'anything-but': { prefix: 'warn' } }] }, { severity: 'warning' })).toBe(
      false,
    );
    // anything-but still needs the attribute to be there.
    expect(match({ severity: [{ 'anything-but': ['warning'] }] }, {})).toBe(false);
  });

  it('supports exists true and false', () => {
    expect(match({ owner: [{ exists: true }] }, { owner: 'x' })).toBe(true);
    expect(match({ owner: [{ exists: true }] }, {})).toBe(false);
    expect(match({ owner: [{ exists: false }] }, {})).toBe(true);
    expect(match({ owner: [{ exists: false }] }, { owner: 'x' })).toBe(false);
  });

  it('compares numbers and numeric ranges, and matches any element of a String.Array', () => {
    expect(match({ age: [90] }, { age: 90 })).toBe(true);
    expect(match({ age: [{ numeric: ['>=', 76, '<', 90] }] }, { age: 80 })).toBe(true);
    expect(match({ age: [{ numeric: ['>=', 76, '<', 90] }] }, { age: 90 })).toBe(false);
    expect(match({ tags: ['b'] }, { tags: ['a', 'b'] })).toBe(true);
    expect(match({ tags: ['c'] }, { tags: ['a', 'b'] })).toBe(false);
  });

  it('refuses malformed policies', () => {
    expect(() => parsePolicy('{nope')).toThrow(FilterPolicyError);
    expect(() => parsePolicy('["a"]')).toThrow(FilterPolicyError);
    expect(() => parsePolicy('{"owner":"a"}')).toThrow(FilterPolicyError);
  });
});

describe('SNS filter policies (MessageBody scope)', () => {
  it('matches top-level and nested JSON fields', () => {
    const p = parsePolicy(JSON.stringify({ owner: ['a'], key: { status: ['Active'] } }));
    expect(matchesBody(p, { owner: 'a', key: { status: 'Active' } })).toBe(true);
    expect(matchesBody(p, { owner: 'a', key: { status: 'Inactive' } })).toBe(false);
    expect(matchesBody(p, { owner: 'a' })).toBe(false);
  });
});

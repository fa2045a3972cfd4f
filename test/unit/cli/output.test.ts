import { describe, expect, it } from 'vitest';
import { fields, type Io, paint, printJson, progress, table } from '../../../src/cli/output.js';

function capture(isTty: boolean) {
  const out: string[] = [];
  const err: string[] = [];
  const io: Io = { out: (t) => out.push(t), err: (t) => err.push(t), isTty };
  return { io, out, err };
}

// biome-ignore lint/suspicious/noControlCharactersInRegex: matching ANSI colour codes
const ANSI = /\u001b\[[0-9;]*m/g;

describe('paint', () => {
  it('colours only on a terminal', () => {
    expect(paint(capture(true).io, 'red', 'expired')).toBe('\u001b[31mexpired\u001b[0m');
    expect(paint(capture(false).io, 'red', 'expired')).toBe('expired');
  });
});

describe('table', () => {
  it('aligns columns by their visible width, even when cells are coloured', () => {
    const tty = capture(true).io;
    const text = table(
      ['USER', 'STATUS', 'AGE'],
      [
        ['alice', paint(tty, 'red', 'expired'), '120 d'],
        ['bob-the-builder', 'ok', '3 d'],
      ],
    );
    const lines = text.replace(ANSI, '').trimEnd().split('\n');
    expect(lines).toEqual([
      'USER             STATUS   AGE',
      '---------------  -------  -----',
      'alice            expired  120 d',
      'bob-the-builder  ok       3 d',
    ]);
  });
});

describe('fields', () => {
  it('aligns values after their labels', () => {
    expect(
      fields([
        ['secret', 'iam-key-rotator/a'],
        ['new key', 'AKIA1'],
      ]),
    ).toBe('  secret   iam-key-rotator/a\n  new key  AKIA1\n');
    expect(fields([])).toBe('');
  });
});

describe('progress', () => {
  it('writes to stderr on a terminal and nowhere otherwise', () => {
    const tty = capture(true);
    progress(tty.io, 'Working...');
    expect(tty.out).toEqual([]);
    expect(tty.err.join('').replace(ANSI, '')).toBe('Working...\n');
    const pipe = capture(false);
    progress(pipe.io, 'Working...');
    expect(pipe.err).toEqual([]);
  });
});

describe('printJson', () => {
  it('writes one parseable document on stdout', () => {
    const c = capture(false);
    printJson(c.io, { a: 1, at: new Date('2026-06-01T00:00:00Z') });
    expect(JSON.parse(c.out.join(''))).toEqual({ a: 1, at: '2026-06-01T00:00:00.000Z' });
  });
});

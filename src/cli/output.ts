/**
 * Terminal output for the operator CLI: aligned tables, colour only when writing to a terminal
 * (and never when NO_COLOR is set), progress on stderr so stdout stays parseable.
 */
export interface Io {
  out: (text: string) => void;
  err: (text: string) => void;
  /** True when stdout is a terminal: colour and progress are shown only then. */
  isTty: boolean;
}

export const processIo = (): Io => ({
  out: (text) => process.stdout.write(text),
  err: (text) => process.stderr.write(text),
  isTty: Boolean(process.stdout.isTTY) && !process.env.NO_COLOR,
});

const CODES = { red: 31, green: 32, yellow: 33, blue: 34, magenta: 35, cyan: 36, gray: 90, bold: 1 } as const;
export type Colour = keyof typeof CODES;

export function paint(io: Io, colour: Colour, text: string): string {
  return io.isTty ? `\u001b[${CODES[colour]}m${text}\u001b[0m` : text;
}

// biome-ignore lint/suspicious/noControlCharactersInRegex: stripping ANSI colour codes
const ANSI = /\u001b\[[0-9;]*m/g;
const visibleLength = (text: string): number => text.replace(ANSI, '').length;

/** Left-aligned columns separated by two spaces; cells may already be coloured. */
export function table(headers: string[], rows: string[][]): string {
  const widths = headers.map((h, i) => Math.max(h.length, ...rows.map((r) => visibleLength(r[i] ?? ''))));
  const line = (cells: string[]) =>
    cells
      .map((c, i) => (i === cells.length - 1 ? c : c + ' '.repeat((widths[i] ?? 0) - visibleLength(c))))
      .join('  ')
      .trimEnd();
  return `${[line(headers), line(widths.map((w) => '-'.repeat(w))), ...rows.map(line)].join('\n')}\n`;
}

/** Label/value lines with the values aligned: `  secret    iam-key-rotator/alice`. */
export function fields(rows: readonly (readonly [string, string])[], indent = '  '): string {
  const width = Math.max(0, ...rows.map(([label]) => label.length));
  return (
    rows.map(([label, value]) => `${indent}${label.padEnd(width)}  ${value}`.trimEnd()).join('\n') +
    (rows.length ? '\n' : '')
  );
}

/** Machine output: one JSON document on stdout. */
export function printJson(io: Io, value: unknown): void {
  io.out(`${JSON.stringify(value, null, 2)}\n`);
}

/** A one-line progress note on stderr, only on a terminal. */
export function progress(io: Io, text: string): void {
  if (io.isTty) io.err(`${paint(io, 'gray', text)}\n`);
}

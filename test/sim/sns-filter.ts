/**
 * SNS subscription filter policies: which messages a subscription receives.
 * Supported: exact strings and numbers, `prefix`, `suffix`, `equals-ignore-case`,
 * `anything-but` (values or `{prefix}`), `exists`, `numeric` ranges; String, Number and
 * String.Array attributes; MessageAttributes scope and (top-level or nested) MessageBody scope.
 * Keys are ANDed, the conditions listed under one key are ORed.
 */
export type Scalar = string | number;

export class FilterPolicyError extends Error {
  override readonly name = 'FilterPolicyError';
}

type Condition = unknown;

function numericMatch(ops: unknown[], n: number): boolean {
  for (let i = 0; i + 1 < ops.length; i += 2) {
    const op = ops[i];
    const bound = Number(ops[i + 1]);
    const ok =
      op === '='
        ? n === bound
        : op === '>'
          ? n > bound
          : op === '>='
            ? n >= bound
            : op === '<'
              ? n < bound
              : op === '<='
                ? n <= bound
                : false;
    if (!ok) return false;
  }
  return true;
}

function scalarMatches(cond: Condition, value: Scalar): boolean {
  if (typeof cond === 'string') return typeof value === 'string' && value === cond;
  if (typeof cond === 'number')
    return typeof value === 'number' ? value === cond : Number(value) === cond && value !== '';
  if (cond === null || typeof cond !== 'object') return false;
  const c = cond as Record<string, unknown>;
  if ('prefix' in c) return typeof value === 'string' && value.startsWith(String(c.prefix));
  if ('suffix' in c) return typeof value === 'string' && value.endsWith(String(c.suffix));
  if ('equals-ignore-case' in c) {
    return typeof value === 'string' && value.toLowerCase() === String(c['equals-ignore-case']).toLowerCase();
  }
  if ('anything-but' in c) {
    const ab = c['anything-but'];
    if (ab !== null && typeof ab === 'object' && !Array.isArray(ab)) {
      const inner = ab as Record<string, unknown>;
      if ('prefix' in inner) return !(typeof value === 'string' && value.startsWith(String(inner.prefix)));
      return true;
    }
    const list = Array.isArray(ab) ? ab : [ab];
    return !list.some((x) => scalarMatches(x, value));
  }
  if ('numeric' in c && Array.isArray(c.numeric)) {
    const n = typeof value === 'number' ? value : Number(value);
    return !Number.isNaN(n) && numericMatch(c.numeric, n);
  }
  return false;
}

/** Does one key's condition list match a present value (scalar or array of scalars)? */
function keyMatches(conditions: Condition[], value: Scalar | Scalar[] | undefined): boolean {
  if (value === undefined) {
    return conditions.some(
      (c) => c !== null && typeof c === 'object' && (c as Record<string, unknown>).exists === false,
    );
  }
  const values = Array.isArray(value) ? value : [value];
  return conditions.some((c) => {
    if (c !== null && typeof c === 'object' && 'exists' in (c as object)) {
      return (c as Record<string, unknown>).exists === true;
    }
    return values.some((v) => scalarMatches(c, v));
  });
}

/** Parses and checks a FilterPolicy attribute value. */
export function parsePolicy(json: string): Record<string, unknown> {
  let policy: unknown;
  try {
    policy = JSON.parse(json);
  } catch {
    throw new FilterPolicyError('failed to parse JSON.');
  }
  if (policy === null || typeof policy !== 'object' || Array.isArray(policy)) {
    throw new FilterPolicyError('Filter policy must be a JSON object.');
  }
  const check = (obj: Record<string, unknown>, depth: number) => {
    for (const [k, v] of Object.entries(obj)) {
      if (Array.isArray(v)) continue;
      if (v !== null && typeof v === 'object' && depth < 5) check(v as Record<string, unknown>, depth + 1);
      else
        throw new FilterPolicyError(`Match value must be String, number, true, false, or null (key ${k}).`);
    }
  };
  check(policy as Record<string, unknown>, 0);
  return policy as Record<string, unknown>;
}

/** MessageAttributes scope: attributes are `{ name: { DataType, StringValue } }`. */
export function matchesAttributes(
  policy: Record<string, unknown>,
  attributes: Record<string, { DataType?: string; StringValue?: string }>,
): boolean {
  for (const [key, conditions] of Object.entries(policy)) {
    if (!Array.isArray(conditions)) return false;
    const attr = attributes[key];
    let value: Scalar | Scalar[] | undefined;
    if (attr?.StringValue !== undefined) {
      if (attr.DataType === 'Number') value = Number(attr.StringValue);
      else if (attr.DataType === 'String.Array') {
        try {
          const parsed: unknown = JSON.parse(attr.StringValue);
          value = Array.isArray(parsed)
            ? parsed.filter((x): x is Scalar => typeof x === 'string' || typeof x === 'number')
            : attr.StringValue;
        } catch {
          value = attr.StringValue;
        }
      } else value = attr.StringValue;
    }
    if (!keyMatches(conditions, value)) return false;
  }
  return true;
}

/** MessageBody scope: the message is JSON, the policy may nest. */
export function matchesBody(policy: Record<string, unknown>, body: unknown): boolean {
  const obj = body !== null && typeof body === 'object' ? (body as Record<string, unknown>) : {};
  for (const [key, conditions] of Object.entries(policy)) {
    const value = obj[key];
    if (Array.isArray(conditions)) {
      let v: Scalar | Scalar[] | undefined;
      if (typeof value === 'string' || typeof value === 'number') v = value;
      else if (Array.isArray(value))
        v = value.filter((x): x is Scalar => typeof x === 'string' || typeof x === 'number');
      if (!keyMatches(conditions, v)) return false;
    } else if (!matchesBody(conditions as Record<string, unknown>, value)) return false;
  }
  return true;
}

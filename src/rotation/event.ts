import * as z from 'zod/mini';
import { RotationEventError } from '../errors.js';

export const ROTATION_STEPS = ['createSecret', 'setSecret', 'testSecret', 'finishSecret'] as const;
export type RotationStep = (typeof ROTATION_STEPS)[number];

/** What Secrets Manager sends the rotation function. Other fields are ignored. */
export interface RotationEvent {
  Step: RotationStep;
  SecretId: string;
  ClientRequestToken: string;
  /** Opaque and sensitive: passed back to Secrets Manager, never logged. */
  RotationToken?: string | undefined;
}

// Not trimmed: tokens are opaque and must reach Secrets Manager exactly as sent.
const text = z.string().check(z.regex(/\S/));

const schema = z.object({
  Step: z.enum(ROTATION_STEPS),
  SecretId: text,
  ClientRequestToken: text,
  RotationToken: z.optional(text),
});

const NAMES: Record<string, string> = {
  Step: `must be one of ${ROTATION_STEPS.join(', ')}`,
  SecretId: 'must be a non-empty string',
  ClientRequestToken: 'must be a non-empty string',
  RotationToken: 'must be a non-empty string when present',
};

/** Validates a rotation event; the error names the bad field (and never echoes the RotationToken). */
export function parseRotationEvent(event: unknown): RotationEvent {
  if (typeof event !== 'object' || event === null || Array.isArray(event)) {
    throw new RotationEventError(
      'rotation event must be an object with Step, SecretId and ClientRequestToken',
    );
  }
  const parsed = schema.safeParse(event);
  if (!parsed.success) {
    const field = String(parsed.error.issues[0]?.path[0] ?? 'event');
    const received = (event as Record<string, unknown>)[field];
    const missing = received === undefined ? ' (missing)' : '';
    // Only the step is safe and useful to quote; the token fields are not shown.
    const shown =
      field === 'Step' && typeof received === 'string'
        ? ` (got ${JSON.stringify(received.slice(0, 40))})`
        : '';
    throw new RotationEventError(
      `rotation event field ${field} ${NAMES[field] ?? 'is invalid'}${missing}${shown}`,
    );
  }
  const { Step, SecretId, ClientRequestToken, RotationToken } = parsed.data;
  return { Step, SecretId, ClientRequestToken, ...(RotationToken === undefined ? {} : { RotationToken }) };
}

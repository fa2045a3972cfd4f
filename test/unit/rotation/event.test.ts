import { describe, expect, it } from 'vitest';
import { RotationEventError } from '../../../src/errors.js';
import { parseRotationEvent } from '../../../src/rotation/event.js';

const valid = {
  Step: 'createSecret',
  SecretId: 'arn:aws:secretsmanager:us-east-1:123456789012:secret:iam-key-rotator/bob-AbC123',
  ClientRequestToken: '11111111-2222-4333-8444-555555555555',
  RotationToken: 'opaque-rotation-token-SENSITIVE',
};

function eventError(input: unknown): RotationEventError {
  try {
    parseRotationEvent(input);
  } catch (err) {
    expect(err).toBeInstanceOf(RotationEventError);
    return err as RotationEventError;
  }
  throw new Error('expected a RotationEventError');
}

describe('parseRotationEvent', () => {
  it('accepts what Secrets Manager sends and keeps the RotationToken exactly', () => {
    expect(parseRotationEvent({ ...valid, RotationToken: ' padded ' })).toEqual({
      ...valid,
      RotationToken: ' padded ',
    });
  });

  it('accepts an event without RotationToken and drops unknown fields', () => {
    const { RotationToken: _, ...rest } = valid;
    expect(parseRotationEvent({ ...rest, Extra: 1 })).toEqual(rest);
  });

  it.each(['createSecret', 'setSecret', 'testSecret', 'finishSecret'])('accepts step %s', (step) => {
    expect(parseRotationEvent({ ...valid, Step: step }).Step).toBe(step);
  });

  it('rejects an unknown step, naming the field and the value', () => {
    const err = eventError({ ...valid, Step: 'deleteSecret' });
    expect(err.message).toContain(
      'field Step must be one of createSecret, setSecret, testSecret, finishSecret',
    );
    expect(err.message).toContain('"deleteSecret"');
  });

  it('rejects a missing SecretId', () => {
    const { SecretId: _, ...rest } = valid;
    expect(eventError(rest).message).toBe(
      'rotation event field SecretId must be a non-empty string (missing)',
    );
  });

  it('rejects an empty or blank ClientRequestToken', () => {
    expect(eventError({ ...valid, ClientRequestToken: '' }).message).toContain('field ClientRequestToken');
    expect(eventError({ ...valid, ClientRequestToken: '   ' }).message).toContain('field ClientRequestToken');
  });

  it('rejects a non-string RotationToken without quoting it', () => {
    const err = eventError({ ...valid, RotationToken: { secret: 'opaque-rotation-token-SENSITIVE' } });
    expect(err.message).toContain('field RotationToken');
    expect(err.message).not.toContain('SENSITIVE');
  });

  it.each([null, 'createSecret', 42, []])('rejects a non-object event (%j)', (input) => {
    expect(eventError(input).message).toContain('rotation event must be an object');
  });
});

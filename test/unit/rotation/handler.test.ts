import type { Context } from 'aws-lambda';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { handler, rotate, rotationHandler } from '../../../handlers/rotation.js';
import { rotate as rotateFromSrc } from '../../../src/rotation/index.js';
import {
  type CapturedLogs,
  captureLogs,
  event,
  expectNoSecretsIn,
  install,
  type Mocks,
  NEW_KEY,
  NEW_SECRET,
  standardValue,
  TOKEN,
  world,
} from './fixtures.js';

let m: Mocks | undefined;
let logs: CapturedLogs;
beforeEach(() => {
  logs = captureLogs();
});
afterEach(() => {
  m?.restore();
  m = undefined;
  logs.restore();
  expectNoSecretsIn(logs.lines);
});

const context = {
  functionName: 'iam-key-rotator-rotation',
  functionVersion: '$LATEST',
  invokedFunctionArn: 'arn:aws:lambda:us-east-1:123456789012:function:iam-key-rotator-rotation',
  memoryLimitInMB: '256',
  awsRequestId: 'req-0001',
  getRemainingTimeInMillis: () => 60_000,
} as unknown as Context;

describe('rotation handler', () => {
  it('exports the undecorated function for tests', () => {
    expect(rotate).toBe(rotateFromSrc);
    expect(typeof rotationHandler).toBe('function');
  });

  it('runs a step through middy with the Lambda context in the logs and returns nothing', async () => {
    const w = world();
    m = install(w);
    await expect(handler(event('createSecret'), context)).resolves.toBeUndefined();
    expect(w.values[TOKEN]).toBe(standardValue(NEW_KEY, NEW_SECRET));
    const created = logs.entries().find((e) => e.message === 'access key created');
    expect(created).toMatchObject({
      function_request_id: 'req-0001',
      step: 'createSecret',
      accessKeyId: NEW_KEY,
    });
  });

  it('fails the invocation when the step fails', async () => {
    m = install(world({ rotationEnabled: false }));
    await expect(handler(event('createSecret'), context)).rejects.toThrow('rotation is not enabled');
  });
});

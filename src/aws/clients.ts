import { IAMClient } from '@aws-sdk/client-iam';
import { SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { SNSClient } from '@aws-sdk/client-sns';
import { STSClient } from '@aws-sdk/client-sts';

/**
 * SDK clients, created once per process and shared (Lambda reuses them across invocations).
 * No endpoint is set here: the SDK reads AWS_ENDPOINT_URL / AWS_ENDPOINT_URL_<SERVICE> itself,
 * so the same code runs against LocalStack or moto. Region comes from AWS_REGION or the profile.
 *
 * IAM LimitExceeded ("cannot exceed quota for AccessKeysPerUser") is final: we check the key count
 * ourselves before creating one and never rely on retries of it.
 */
const region = (): string | undefined => process.env.AWS_REGION ?? process.env.AWS_DEFAULT_REGION;

export interface Clients {
  iam: IAMClient;
  sm: SecretsManagerClient;
  sns: SNSClient;
  sts: STSClient;
}

let shared: Clients | undefined;

export function clients(): Clients {
  shared ??= {
    iam: new IAMClient({ region: region() ?? 'us-east-1' }),
    sm: new SecretsManagerClient({ region: region() }),
    sns: new SNSClient({ region: region() }),
    sts: new STSClient({ region: region() }),
  };
  return shared;
}

/** Overrides the shared clients (the CLI's --profile/--region; tests). */
export function setClients(next: Partial<Clients>): void {
  shared = { ...clients(), ...next };
}

/** For tests and the CLI: drop the shared clients so the next call builds fresh ones. */
export function resetClients(): void {
  shared = undefined;
}

/**
 * An STS client signed with one specific key pair: testSecret proves the pending key works.
 * A fresh client each time: credentials are fixed at construction.
 */
export function stsWithKey(accessKeyId: string, secretAccessKey: string): STSClient {
  return new STSClient({
    region: region() ?? 'us-east-1',
    credentials: { accessKeyId, secretAccessKey },
    // testSecret does its own retries with backoff through the propagation delay.
    maxAttempts: 1,
  });
}

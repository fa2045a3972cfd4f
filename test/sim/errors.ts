import { IAMServiceException } from '@aws-sdk/client-iam';
import { SecretsManagerServiceException } from '@aws-sdk/client-secrets-manager';
import { SNSServiceException, ThrottledException } from '@aws-sdk/client-sns';
import { STSServiceException } from '@aws-sdk/client-sts';

export type Service = 'iam' | 'sts' | 'secretsManager' | 'sns';

/** The SDK metadata every real error carries; tests and retry code read httpStatusCode. */
export const meta = (httpStatusCode = 400) => ({ httpStatusCode, attempts: 1, totalRetryDelay: 0 });

/**
 * An error the SDK has no class for (IAM `Throttling`, STS `InvalidClientTokenId`, ...): built
 * on the service's own ServiceException base, so it looks exactly like what the SDK throws.
 */
export function serviceError(
  service: Service,
  name: string,
  message: string,
  o: { status?: number; fault?: 'client' | 'server'; throttling?: boolean } = {},
): Error {
  const options = {
    name,
    message,
    $fault: o.fault ?? 'client',
    $metadata: meta(o.status ?? 400),
  } as const;
  const err =
    service === 'iam'
      ? new IAMServiceException(options)
      : service === 'sts'
        ? new STSServiceException(options)
        : service === 'secretsManager'
          ? new SecretsManagerServiceException(options)
          : new SNSServiceException(options);
  if (o.throttling) err.$retryable = { throttling: true };
  return err;
}

/** What each service throws when throttled: IAM and STS `Throttling`, Secrets Manager
 * `ThrottlingException`, SNS `Throttled` (the SDK's ThrottledException class). */
export function throttlingError(service: Service): Error {
  if (service === 'sns') {
    const err = new ThrottledException({ message: 'Rate exceeded', $metadata: meta(400) });
    err.$retryable = { throttling: true };
    return err;
  }
  const name = service === 'secretsManager' ? 'ThrottlingException' : 'Throttling';
  return serviceError(service, name, 'Rate exceeded', { throttling: true });
}

export function invalidToken(service: Service): Error {
  return serviceError(
    service,
    service === 'secretsManager' ? 'UnrecognizedClientException' : 'InvalidClientTokenId',
    'The security token included in the request is invalid.',
    { status: 403 },
  );
}

export function badSignature(service: Service): Error {
  return serviceError(
    service,
    service === 'secretsManager' ? 'InvalidSignatureException' : 'SignatureDoesNotMatch',
    'The request signature we calculated does not match the signature you provided. Check your AWS Secret Access Key and signing method. Consult the service documentation for details.',
    { status: 403 },
  );
}

export function validationError(service: Service, message: string): Error {
  return serviceError(service, 'ValidationError', message);
}

/** The Lambda process died right after this call took effect (see SimAccount.crashAfterCall). */
export class SimulatedCrash extends Error {
  override readonly name = 'SimulatedCrash';
  constructor(message = 'Simulated crash: the process died after the call took effect') {
    super(message);
  }
}

/** Default error of SimAccount.failCall: not throttling, so withRetry does not hide it. */
export class SimulatedFault extends Error {
  override readonly name = 'SimulatedFault';
  readonly $fault = 'server';
  readonly $metadata = meta(500);
}

import { Logger } from '@aws-lambda-powertools/logger';

/**
 * The one logger. Powertools writes structured JSON lines to stdout, which CloudWatch keeps.
 * Never pass it a GetSecretValue result, a CreateAccessKey response or a RotationToken: log key
 * ids, secret ARNs and version ids only (DESIGN.md, invariant 6).
 */
export const logger = new Logger({ serviceName: 'iam-key-rotator' });

import { GetCallerIdentityCommand } from '@aws-sdk/client-sts';
import type { Caller, CommandClass, OpSpec, SimContext } from './context.js';
import { op } from './context.js';
import type { Service } from './errors.js';
import { badSignature, invalidToken } from './errors.js';
import type { IamModel } from './iam.js';

/** Service namespaces as IAM records them in "last used". */
const NAMESPACE: Record<Service, string> = {
  iam: 'iam',
  sts: 'sts',
  secretsManager: 'secretsmanager',
  sns: 'sns',
};

export const OPERATOR_ACCESS_KEY_ID = 'AKIATESTFAKEFAKEFAKE';
const OPERATOR: Caller = { operator: true };

/**
 * Signature and credential checks. Every call is signed: a call made with one of the account's
 * keys is checked (deleted, unknown, inactive or not yet propagated: InvalidClientTokenId; wrong
 * secret: SignatureDoesNotMatch) and, when it passes, recorded as that key's last use.
 * The operator's credentials (the test defaults) are not checked.
 */
export class StsModel {
  readonly operatorKeyIds: Set<string>;

  constructor(
    private readonly ctx: SimContext,
    private readonly iam: IamModel,
    operatorKeyIds: Iterable<string>,
  ) {
    this.operatorKeyIds = new Set(operatorKeyIds);
  }

  authenticate(accessKeyId: string, secretAccessKey: string, service: Service): Caller {
    if (this.operatorKeyIds.has(accessKeyId)) return OPERATOR;
    const key = this.iam.keys.get(accessKeyId);
    const now = this.ctx.clock.nowMs();
    if (key?.status !== 'Active' || now < key.usableAt) throw invalidToken(service);
    if (secretAccessKey !== key.secretAccessKey) throw badSignature(service);
    key.lastUsed = new Date(now);
    key.lastUsedService = NAMESPACE[service];
    key.lastUsedRegion = this.ctx.region;
    return { operator: false, key };
  }

  ops(): Array<[CommandClass, OpSpec]> {
    return [
      op('sts', GetCallerIdentityCommand, (_input, caller) => {
        if (caller.operator) {
          return {
            UserId: 'AIDAOPERATOROPERATOR1',
            Account: this.ctx.accountId,
            Arn: `arn:aws:iam::${this.ctx.accountId}:user/operator`,
          };
        }
        const user = this.iam.findUser(caller.key.userName);
        if (!user) throw invalidToken('sts');
        return { UserId: user.userId, Account: this.ctx.accountId, Arn: user.arn };
      }),
    ];
  }
}

import { describe, expect, it } from 'vitest';
import { ConfigError, loadConfig } from '../../src/config.js';

describe('loadConfig', () => {
  it('applies the documented defaults', () => {
    const c = loadConfig({});
    expect(c).toMatchObject({
      maxKeyAgeDays: 90,
      warnBeforeDays: 14,
      rotationGraceDays: 7,
      unusedKeyDays: 45,
      enforce: 'notify',
      dryRun: false,
      ownerTagKey: 'owner',
      secretPrefix: 'iam-key-rotator/',
      rotationScheduleDays: 82,
    });
  });

  it.each([
    ['MAX_KEY_AGE_DAYS', 'ninety', /MAX_KEY_AGE_DAYS: must be a whole number of days \(got "ninety"\)/],
    ['MAX_KEY_AGE_DAYS', '0', /MAX_KEY_AGE_DAYS: must be at least 1 day/],
    ['WARN_BEFORE_DAYS', '-3', /WARN_BEFORE_DAYS: must be a whole number/],
    ['WARN_BEFORE_DAYS', '90', /WARN_BEFORE_DAYS: must be smaller than MAX_KEY_AGE_DAYS \(90\)/],
    ['ROTATION_GRACE_DAYS', '1.5', /ROTATION_GRACE_DAYS: must be a whole number/],
    ['UNUSED_KEY_DAYS', '99999', /UNUSED_KEY_DAYS: must be at most 3650 days/],
    ['ENFORCE', 'nuke', /ENFORCE: must be one of notify, disable, delete \(got "nuke"\)/],
    ['DRY_RUN', 'yes', /DRY_RUN: must be "true" or "false"/],
    ['TOPIC_ARN', 'my-topic', /TOPIC_ARN: must be an SNS topic ARN/],
    ['SECRET_PREFIX', 'bad prefix!', /SECRET_PREFIX: may contain only/],
    ['VERIFY_BUDGET_SECONDS', '0', /VERIFY_BUDGET_SECONDS: must be at least 1 second/],
    ['VERIFY_BUDGET_SECONDS', '900', /VERIFY_BUDGET_SECONDS: must be at most 840 seconds/],
    ['STUCK_ROTATION_HOURS', 'soon', /STUCK_ROTATION_HOURS: must be a whole number of hours/],
    ['STUCK_ROTATION_HOURS', '0', /STUCK_ROTATION_HOURS: must be at least 1 hour/],
    ['ROTATION_SCHEDULE_DAYS', '5000', /ROTATION_SCHEDULE_DAYS: must be at most 1000 days/],
    ['CREATE_OWNER_SUBSCRIPTIONS', '1', /CREATE_OWNER_SUBSCRIPTIONS: must be "true" or "false"/],
    ['OWNER_TAG_KEY', 'owner!', /OWNER_TAG_KEY: must be a valid IAM tag key/],
    ['MANAGED_USER_PATH', 'ci', /MANAGED_USER_PATH: must be an IAM path that starts and ends with \//],
    ['MANAGED_USER_PATH', '/ci', /MANAGED_USER_PATH: must be an IAM path/],
    ['AWS_REGION', 'US East', /AWS_REGION: must be an AWS region name/],
    ['ROTATION_GRACE_DAYS', '90', /ROTATION_GRACE_DAYS: must be smaller than MAX_KEY_AGE_DAYS \(90\)/],
  ])('rejects %s=%s with an error naming the variable', (name, value, message) => {
    let thrown: unknown;
    try {
      loadConfig({ [name]: value });
    } catch (err) {
      thrown = err;
    }
    expect(thrown).toBeInstanceOf(ConfigError);
    expect((thrown as ConfigError).variable).toBe(name);
    expect((thrown as Error).message).toMatch(message);
  });

  it('derives the rotation schedule from the policy unless set', () => {
    expect(
      loadConfig({ MAX_KEY_AGE_DAYS: '30', ROTATION_GRACE_DAYS: '3', WARN_BEFORE_DAYS: '5' })
        .rotationScheduleDays,
    ).toBe(26);
    expect(loadConfig({ ROTATION_SCHEDULE_DAYS: '30' }).rotationScheduleDays).toBe(30);
  });

  it('treats empty variables as unset and accepts case-insensitive values', () => {
    const c = loadConfig({ ENFORCE: 'Disable', DRY_RUN: 'TRUE', TOPIC_ARN: '', EXEMPT_GROUP: ' ' });
    expect(c.enforce).toBe('disable');
    expect(c.dryRun).toBe(true);
    expect(c.topicArn).toBeUndefined();
    expect(c.exemptGroup).toBeUndefined();
  });
});

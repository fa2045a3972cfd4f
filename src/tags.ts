/** Tag keys of the binding contract (DESIGN.md, "Binding" and "Exempt"). */
export const USER_TAG = 'iam-key-rotator:user';
export const SECRET_TAG = 'iam-key-rotator:secret';
export const EXEMPT_TAG = 'iam-key-rotator:exempt';

/** IAM user names: 1-64 characters of letters, digits and +=,.@_- (and so no path or wildcard). */
export const IAM_USER_NAME = /^[\w+=,.@-]{1,64}$/;
export const IAM_USER_NAME_RULE = 'an IAM user name (1-64 of A-Z a-z 0-9 +=,.@_-)';

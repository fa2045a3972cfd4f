/** Tag keys of the binding contract (DESIGN.md, "Binding" and "Exempt"). */
export const USER_TAG = 'iam-key-rotator:user';
export const SECRET_TAG = 'iam-key-rotator:secret';
export const EXEMPT_TAG = 'iam-key-rotator:exempt';

/** Errors the service raises on purpose. Each says what is wrong and what was (not) changed. */
export class RotatorError extends Error {
  override name = 'RotatorError';
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
  }
}

/** The secret and the IAM user are not bound to each other (DESIGN.md, "Binding"). */
export class BindingError extends RotatorError {
  override name = 'BindingError';
}

/** The secret's value is not a key pair we understand. */
export class SecretFormatError extends RotatorError {
  override name = 'SecretFormatError';
}

/** The rotation event is not one Secrets Manager would send for this secret. */
export class RotationEventError extends RotatorError {
  override name = 'RotationEventError';
}

/** A key is in the way and it is not ours to delete (invariant 5). */
export class KeyInUseError extends RotatorError {
  override name = 'KeyInUseError';
}

/** The pending key did not authenticate as the bound user within the budget (invariant 3). */
export class VerificationError extends RotatorError {
  override name = 'VerificationError';
}

/** A user or secret the caller named does not exist or is not managed. */
export class NotEnrolledError extends RotatorError {
  override name = 'NotEnrolledError';
}

/** A rotation is already running for this secret. */
export class RotationInProgressError extends RotatorError {
  override name = 'RotationInProgressError';
}

/** Message of any thrown value, for logs and results (never includes secret material by construction). */
export function messageOf(err: unknown): string {
  if (err instanceof Error) return `${err.name}: ${err.message}`;
  return String(err);
}

/**
 * A command was called wrongly (an unknown flag, a missing or unreadable file, a value out of range): the
 * command prints the message as one line on stderr and exits with code 2, changing nothing.
 */
export class UsageError extends Error {
  override readonly name = 'UsageError';
}

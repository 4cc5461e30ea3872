/** What a failed call means to a merchant: a title, the server's message, and its ErrorInfo reason. */
import { CallError } from '@shared/callable';

export interface DescribedError { title: string; message: string; reason: string }

const titles: Record<string, string> = {
  'permission-denied': 'Your role does not allow this',
  'not-found': 'Not found',
  'invalid-argument': 'That input was refused',
  'failed-precondition': 'Not possible in the current state',
  unauthenticated: 'Your session ended',
  unavailable: 'Tally is unavailable right now',
  aborted: 'Busy, please try again',
  'deadline-exceeded': 'The request took too long',
};

export function describeError(error: unknown): DescribedError {
  if (error instanceof CallError) {
    return { title: titles[error.code] ?? 'Something went wrong', message: error.message, reason: error.reason };
  }
  return { title: 'Something went wrong', message: error instanceof Error ? error.message : String(error), reason: '' };
}

import { Firestore } from '@google-cloud/firestore';

/**
 * One Firestore client per process. With FIRESTORE_EMULATOR_HOST set (tests, `npm start`) the
 * client talks to the emulator; otherwise to the project's database with ambient credentials.
 */
export function createFirestore(projectId: string): Firestore {
  // useBigInt: ledger amounts are int64 and come back as bigint, never as lossy numbers.
  return new Firestore({ projectId, preferRest: false, ignoreUndefinedProperties: false, useBigInt: true });
}

/** Verifies a Firebase Auth ID token and returns its subject and custom claims. */
export interface IdTokenVerifier {
  /** Throws on an invalid, expired or revoked token. */
  verify(idToken: string): Promise<{ uid: string; claims: Readonly<Record<string, unknown>> }>;
}

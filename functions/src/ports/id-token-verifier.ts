/** Verifies a Firebase Auth ID token and returns its subject and custom claims. */
export interface IdTokenVerifier {
  /**
   * Throws on an invalid, expired or revoked token, a disabled user, and (against the Auth
   * emulator, whose tokens are unsigned) claims that are not the user's stored ones (ADR 0019).
   */
  verify(idToken: string): Promise<{ uid: string; claims: Readonly<Record<string, unknown>> }>;
}

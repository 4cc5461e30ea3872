/**
 * Envelope for secrets kept at rest (webhook signing secrets): sealed by a key the database never
 * sees. `context` is bound to the ciphertext (additional authenticated data): a ciphertext opens
 * only with the context it was sealed with, so a copy moved to another record is useless.
 */
export interface SecretBox {
  seal(plaintext: Uint8Array, context: string): Promise<Uint8Array>;
  open(ciphertext: Uint8Array, context: string): Promise<Uint8Array>;
}

/**
 * A `SecretBox` for a developer's machine without the fake KMS: AES-256-GCM under a key held in
 * this process (context as AAD). Refused when deployed (config: TALLY_WEBHOOK_SECRETS_KMS_KEY is
 * required there); secrets sealed by one process do not open in another.
 */
import { createCipheriv, createDecipheriv, randomBytes } from 'node:crypto';
import type { SecretBox } from '../../ports/secret-box.js';

export function createLocalSecretBox(key: Uint8Array = randomBytes(32)): SecretBox {
  return {
    seal: async (plaintext, context) => {
      const iv = randomBytes(12);
      const cipher = createCipheriv('aes-256-gcm', key, iv);
      cipher.setAAD(Buffer.from(context, 'utf8'));
      const encrypted = Buffer.concat([cipher.update(plaintext), cipher.final()]);
      return new Uint8Array(Buffer.concat([iv, cipher.getAuthTag(), encrypted]));
    },
    open: async (ciphertext, context) => {
      const bytes = Buffer.from(ciphertext);
      const decipher = createDecipheriv('aes-256-gcm', key, bytes.subarray(0, 12));
      decipher.setAuthTag(bytes.subarray(12, 28));
      decipher.setAAD(Buffer.from(context, 'utf8'));
      return new Uint8Array(Buffer.concat([decipher.update(bytes.subarray(28)), decipher.final()]));
    },
  };
}

import { describe, expect, it } from 'vitest';
import { ConfigError, parseConfig } from './config.js';

const kmsKey = 'projects/p/locations/europe-west1/keyRings/tally/cryptoKeys/ledger/cryptoKeyVersions/1';

describe('parseConfig', () => {
  it('signs checkpoints with KMS when deployed and refuses to start without a key version', () => {
    expect(() => parseConfig({ K_SERVICE: 'api' })).toThrow(/TALLY_KMS_KEY_VERSION/);
    expect(parseConfig({ K_SERVICE: 'api', TALLY_KMS_KEY_VERSION: kmsKey }).signer).toBe('kms');
    expect(parseConfig({}).signer).toBe('local');
  });

  it('gives bounded defaults', () => {
    const c = parseConfig({});
    expect(c.idempotencyRetentionMs).toBeGreaterThanOrEqual(24 * 3_600_000);
    expect(c.requestBodyBytesMax).toBe(256 * 1024);
    expect(c.traceExporter).toBe('none');
    expect(c.platformAdminKeySha256).toBe('');
    // Checkouts' first writes are grouped (ADR 0016); 0 waiting writes turns grouping off.
    expect([c.paymentsGroupCommitInFlightMax, c.paymentsGroupCommitWritesMax, c.paymentsGroupCommitWaitingWritesMax, c.paymentsGroupCommitStallMs]).toEqual([1, 200, 10_000, 250]);
    expect(parseConfig({ TALLY_PAYMENTS_GROUP_COMMIT_WAITING_WRITES_MAX: '0' }).paymentsGroupCommitWaitingWritesMax).toBe(0);
  });

  it('exports to Cloud Trace when deployed (K_SERVICE set)', () => {
    expect(parseConfig({ K_SERVICE: 'api', TALLY_KMS_KEY_VERSION: kmsKey }).traceExporter).toBe('cloud-trace');
  });

  it.each([
    ['TALLY_IDEMPOTENCY_RETENTION_MS', '3600000', /\[86400000,/],
    ['TALLY_REQUEST_BODY_BYTES_MAX', '99999999999', /must be in/],
    ['TALLY_AUTH_CACHE_TTL_MS', '-1', /integer/],
    ['TALLY_AUTH_CACHE_TTL_MS', '1.5', /integer/],
    ['TALLY_TRACE_EXPORTER', 'jaeger', /one of none, memory, cloud-trace/],
    ['TALLY_PLATFORM_ADMIN_KEY_SHA256', 'abc', /64 lowercase hex/],
    // Firestore takes at most 500 writes in one commit; at least one group must be able to leave.
    ['TALLY_PAYMENTS_GROUP_COMMIT_WRITES_MAX', '501', /must be in/],
    ['TALLY_PAYMENTS_GROUP_COMMIT_IN_FLIGHT_MAX', '0', /must be in/],
  ])('refuses %s=%s naming the variable', (name, value, message) => {
    expect(() => parseConfig({ [name]: value })).toThrow(ConfigError);
    expect(() => parseConfig({ [name]: value })).toThrow(new RegExp(`${name}.*|.*`));
    try { parseConfig({ [name]: value }); } catch (e) { expect((e as Error).message).toContain(name); expect((e as Error).message).toMatch(message); }
  });
});

describe('trace sampling', () => {
  it('records everything in tests, a tenth deployed, nothing without an exporter, and honours the override', () => {
    expect(parseConfig({ TALLY_TRACE_EXPORTER: 'memory' }).traceSampleRatio).toBe(1);
    expect(parseConfig({ K_SERVICE: 'api', TALLY_KMS_KEY_VERSION: kmsKey }).traceSampleRatio).toBe(0.1);
    expect(parseConfig({}).traceSampleRatio).toBe(0);
    expect(parseConfig({ TALLY_TRACE_SAMPLE_RATIO: '0.25' }).traceSampleRatio).toBe(0.25);
    expect(() => parseConfig({ TALLY_TRACE_SAMPLE_RATIO: '1.5' })).toThrow(/TALLY_TRACE_SAMPLE_RATIO/);
  });
});

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
    // The PSP breaker, limiter and caches compose.ts used to hard-code, with the same defaults.
    expect([c.pspBreakerWindowMs, c.pspBreakerWindowBuckets, c.pspBreakerMinimumCalls, c.pspBreakerFailureRate, c.pspBreakerOpenMs, c.pspBreakerHalfOpenProbes]).toEqual([30_000, 10, 20, 0.5, 10_000, 2]);
    expect([c.pspConcurrencyMax, c.pspQueueMax, c.pspQueueTimeoutMs, c.pspCallsPerRequestMax, c.pspEventsWaitingMax]).toEqual([64, 1_000, 5_000, 6, 10_000]);
    expect([c.paymentMethodCacheTtlMs, c.paymentAccountsCacheTtlMs, c.ledgerVerifyPageSize]).toEqual([600_000, 3_600_000, 500]);
    expect(parseConfig({ TALLY_PSP_BREAKER_MINIMUM_CALLS: '5', TALLY_PSP_BREAKER_FAILURE_RATE: '0.25' })).toMatchObject({ pspBreakerMinimumCalls: 5, pspBreakerFailureRate: 0.25 });
    // The janitor clears an incident's backlog in one run: 2,000 payments, 16 at once, 45 s (issue 12 item 3, ADR 0023).
    expect([c.janitorPaymentsMax, c.janitorConcurrencyMax, c.janitorRunMs]).toEqual([2_000, 16, 45_000]);
    expect(parseConfig({ TALLY_JANITOR_CONCURRENCY_MAX: '64', TALLY_JANITOR_RUN_MS: '1000' })).toMatchObject({ janitorConcurrencyMax: 64, janitorRunMs: 1_000 });
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
    // PSP guards and caches moved out of compose.ts (issue 11 item 17c, ADR 0021).
    ['TALLY_PSP_BREAKER_WINDOW_MS', '30001', /multiple of TALLY_PSP_BREAKER_WINDOW_BUCKETS/],
    ['TALLY_PSP_BREAKER_FAILURE_RATE', '0', /must be above 0/],
    ['TALLY_PSP_BREAKER_FAILURE_RATE', '1.5', /\[0, 1\]/],
    ['TALLY_PSP_BREAKER_MINIMUM_CALLS', '0', /must be in/],
    ['TALLY_PSP_BREAKER_HALF_OPEN_PROBES', '65', /must be in/],
    ['TALLY_PSP_CONCURRENCY_MAX', '0', /must be in/],
    ['TALLY_PSP_QUEUE_TIMEOUT_MS', '0', /must be in/],
    ['TALLY_PSP_CALLS_PER_REQUEST_MAX', '1', /must be in/],
    ['TALLY_PAYMENT_METHOD_CACHE_TTL_MS', '86400001', /must be in/],
    ['TALLY_LEDGER_VERIFY_PAGE_SIZE', '1001', /must be in/],
    // The janitor's parallelism and run deadline (issue 12 item 3).
    ['TALLY_JANITOR_CONCURRENCY_MAX', '0', /must be in/],
    ['TALLY_JANITOR_CONCURRENCY_MAX', '65', /must be in/],
    ['TALLY_JANITOR_RUN_MS', '999', /must be in/],
    ['TALLY_JANITOR_RUN_MS', '480001', /must be in/],
    ['TALLY_JANITOR_PAYMENTS_MAX', '10001', /must be in/],
  ])('refuses %s=%s naming the variable', (name, value, message) => {
    // One assertion on the thrown error (a `${name}.*|.*` pattern and a catch-only check, used
    // here before, passed for any error and for none).
    expect(() => parseConfig({ [name]: value })).toThrow(ConfigError);
    expect(() => parseConfig({ [name]: value })).toThrow(expect.objectContaining({ message: expect.stringMatching(new RegExp(`${name}[^]*${message.source}`)) }));
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

describe('secrets fail closed (issue 11 item 6, ADR 0019)', () => {
  const message = (env: Record<string, string>): string => {
    try { parseConfig(env); } catch (e) { expect(e).toBeInstanceOf(ConfigError); return (e as Error).message; }
    throw new Error('expected parseConfig to refuse');
  };
  const adyenKey = 'AB'.repeat(32);

  it('refuses a Stripe API key without its webhook secret, naming the variable', () => {
    expect(message({ TALLY_STRIPE_API_KEY: 'sk_test_x' })).toMatch(/^TALLY_STRIPE_WEBHOOK_SECRET: required/);
    expect(message({ TALLY_STRIPE_API_KEY: 'sk_test_x', TALLY_STRIPE_WEBHOOK_SECRET: '  ' })).toMatch(/^TALLY_STRIPE_WEBHOOK_SECRET/);
    expect(parseConfig({ TALLY_STRIPE_API_KEY: 'sk_test_x', TALLY_STRIPE_WEBHOOK_SECRET: 'whsec_x' }).stripe.webhookSecret).toBe('whsec_x');
  });

  it('refuses an Adyen API key without a usable HMAC key or merchant account, naming the variable', () => {
    expect(message({ TALLY_ADYEN_API_KEY: 'k', TALLY_ADYEN_MERCHANT_ACCOUNT: 'M' })).toMatch(/^TALLY_ADYEN_HMAC_KEY_HEX: required/);
    expect(message({ TALLY_ADYEN_API_KEY: 'k', TALLY_ADYEN_MERCHANT_ACCOUNT: 'M', TALLY_ADYEN_HMAC_KEY_HEX: 'zz' })).toMatch(/^TALLY_ADYEN_HMAC_KEY_HEX/);
    expect(message({ TALLY_ADYEN_API_KEY: 'k', TALLY_ADYEN_MERCHANT_ACCOUNT: 'M', TALLY_ADYEN_HMAC_KEY_HEX: 'ABCD' })).toMatch(/^TALLY_ADYEN_HMAC_KEY_HEX/);
    expect(message({ TALLY_ADYEN_API_KEY: 'k', TALLY_ADYEN_HMAC_KEY_HEX: adyenKey })).toMatch(/^TALLY_ADYEN_MERCHANT_ACCOUNT: required/);
    expect(parseConfig({ TALLY_ADYEN_API_KEY: 'k', TALLY_ADYEN_MERCHANT_ACCOUNT: 'M', TALLY_ADYEN_HMAC_KEY_HEX: adyenKey }).adyen.hmacKeyHex).toBe(adyenKey);
  });

  it('a connector that is off needs no secret', () => {
    expect(parseConfig({}).stripe.apiKey).toBe('');
    expect(parseConfig({}).adyen.apiKey).toBe('');
  });

  it('allows the Auth emulator only for demo-* projects and never when deployed (issue 11 item 7)', () => {
    const emulator = { FIREBASE_AUTH_EMULATOR_HOST: '127.0.0.1:9099' };
    expect(parseConfig({ ...emulator, GCLOUD_PROJECT: 'demo-tally' }).projectId).toBe('demo-tally');
    expect(parseConfig(emulator).projectId).toBe('demo-tally');
    expect(message({ ...emulator, GCLOUD_PROJECT: 'tally-prod' })).toMatch(/^FIREBASE_AUTH_EMULATOR_HOST: .*only demo-\* projects/);
    expect(message({ ...emulator, GOOGLE_CLOUD_PROJECT: 'tally-prod' })).toMatch(/^FIREBASE_AUTH_EMULATOR_HOST/);
    expect(message({ ...emulator, GCLOUD_PROJECT: 'demo-tally', K_SERVICE: 'api', TALLY_KMS_KEY_VERSION: kmsKey })).toMatch(/^FIREBASE_AUTH_EMULATOR_HOST: .*deployed/);
    expect(message({ ...emulator, GCLOUD_PROJECT: 'demo-tally', FUNCTION_TARGET: 'pspWebhook' })).toMatch(/^FIREBASE_AUTH_EMULATOR_HOST: .*deployed/);
  });

  it('refuses a local checkpoint signer when deployed', () => {
    expect(message({ K_SERVICE: 'api', TALLY_SIGNER: 'local' })).toMatch(/^TALLY_SIGNER=local: refused when deployed/);
  });
});

import { describe, expect, it } from 'vitest';
import { type PspLookupOutcome, pspCallVerdict } from './psp-vocabulary.js';

describe('pspCallVerdict: what one answer says about a PSP every tenant shares', () => {
  it('counts only what the PSP (or the link to it) caused', () => {
    const failures: PspLookupOutcome[] = [
      { kind: 'retryable', reason: 'unavailable', detail: 'ECONNREFUSED' },
      { kind: 'retryable', reason: 'rate_limited', detail: '429' },
      { kind: 'retryable', reason: 'server_error', detail: '503' },
      { kind: 'unknown', reason: 'timeout', detail: '' },
      { kind: 'unknown', reason: 'connection_lost', detail: '' },
      { kind: 'unknown', reason: 'ambiguous_server_error', detail: '500' },
    ];
    for (const outcome of failures) expect(pspCallVerdict(outcome), JSON.stringify(outcome)).toBe('failure');
  });

  it('ignores refusals before sending, synthetic unknowns and idempotency conflicts; a decline or 4xx is the PSP working', () => {
    expect(pspCallVerdict({ kind: 'retryable', reason: 'request_invalid', detail: 'amount over the limit' })).toBe('ignored');
    expect(pspCallVerdict({ kind: 'unknown', reason: 'no_lookup', detail: 'no lookup API' })).toBe('ignored');
    expect(pspCallVerdict({ kind: 'unknown', reason: 'request_conflict', detail: '409' })).toBe('ignored');
    expect(pspCallVerdict({ kind: 'declined', pspReference: null, reason: 'other', pspCode: 'amount_too_large' })).toBe('success');
    expect(pspCallVerdict({ kind: 'not_found' })).toBe('success');
    expect(pspCallVerdict({ kind: 'pending', pspReference: null, detail: '' })).toBe('success');
  });
});

import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestStack, type TestStack } from './support/test-stack.js';

let stack: TestStack;
beforeAll(async () => { stack = await startTestStack(); });
afterAll(async () => { await stack.close(); });

describe('test stack', () => {
  it('serves GetTenant for a new tenant over real HTTP', async () => {
    const { tenantId, owner } = await stack.newTenant('Smoke');
    const res = await owner.tenancy.getTenant({});
    expect(res.tenant?.id).toBe(tenantId);
    expect(res.tenant?.name).toBe('Smoke');
  });
});

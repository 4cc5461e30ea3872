/** Trace ids travel from the caller's traceparent through the API into spans and stored documents. */
import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestStack, type TestStack } from './support/test-stack.js';

let stack: TestStack;
beforeAll(async () => { stack = await startTestStack(); });
afterAll(async () => { await stack.close(); });

describe('tracing through the API', () => {
  it('continues the W3C trace of the request into the span, the response header and the written document', async () => {
    const { ownerKey, tenantId } = await stack.newTenant();
    const traceId = randomUUID().replaceAll('-', '');
    const res = await fetch(`${stack.url}/tally.tenancy.v1.TenancyService/CreateApiKey`, {
      method: 'POST',
      headers: {
        'content-type': 'application/json',
        authorization: `Bearer ${ownerKey}`,
        traceparent: `00-${traceId}-00f067aa0ba902b7-01`,
      },
      body: JSON.stringify({ name: 'traced', role: 'ROLE_VIEWER', idempotencyKey: randomUUID() }),
    });
    expect(res.status).toBe(200);
    expect(res.headers.get('x-tally-trace-id')).toBe(traceId);
    const { apiKey } = (await res.json()) as { apiKey: { id: string } };
    const doc = (await stack.services.db.doc(`tenants/${tenantId}/apiKeys/${apiKey.id}`).get()).data()!;
    expect(doc.traceId).toBe(traceId);
    const spans = stack.services.telemetry.memoryExporter!.getFinishedSpans();
    // The Firestore client adds its own child spans (BatchGetDocuments, ...) to the same trace.
    const span = spans.find((s) => s.spanContext().traceId === traceId && s.name.startsWith('tally.'));
    expect(span?.name).toBe('tally.tenancy.v1.TenancyService/CreateApiKey');
    expect(spans.some((s) => s.spanContext().traceId === traceId && s.parentSpanContext?.spanId === span?.spanContext().spanId)).toBe(true);
    expect(span?.attributes['tally.tenant_id']).toBe(tenantId);
    expect(doc.spanId).toBe(span?.spanContext().spanId);
  });
});

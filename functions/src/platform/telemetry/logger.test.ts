import { context, trace } from '@opentelemetry/api';
import { beforeAll, describe, expect, it } from 'vitest';
import { createLogger } from './logger.js';
import { extractContext, initTelemetry, injectContext } from './tracing.js';

beforeAll(() => { initTelemetry({ traceExporter: 'memory', traceSampleRatio: 1 }); });

function capture(level: 'DEBUG' | 'INFO' | 'WARNING' | 'ERROR' = 'INFO') {
  const lines: Record<string, unknown>[] = [];
  const logger = createLogger({ projectId: 'demo-p', level, write: (line) => lines.push(JSON.parse(line) as Record<string, unknown>) });
  return { logger, lines };
}

describe('structured logs', () => {
  it("write Cloud Logging's JSON shape with the active trace", () => {
    const { logger, lines } = capture();
    const tracer = trace.getTracer('test');
    const span = tracer.startSpan('op');
    context.with(trace.setSpan(context.active(), span), () => logger.info('hello', { amountMinor: 123n, tenantId: 'ten_1' }));
    span.end();
    const { traceId, spanId } = span.spanContext();
    expect(lines[0]).toMatchObject({
      severity: 'INFO', message: 'hello', amountMinor: '123', tenantId: 'ten_1',
      'logging.googleapis.com/trace': `projects/demo-p/traces/${traceId}`,
      'logging.googleapis.com/spanId': spanId,
    });
    expect(typeof lines[0]!.time).toBe('string');
  });

  it('drop lines below the configured level and omit trace fields outside a span', () => {
    const { logger, lines } = capture('WARNING');
    logger.info('quiet');
    logger.error('loud', { error: new Error('x') });
    expect(lines.map((l) => l.message)).toEqual(['loud']);
    expect(lines[0]!['logging.googleapis.com/trace']).toBeUndefined();
    expect((lines[0]!.error as { message: string }).message).toBe('x');
  });
});

describe('W3C trace context', () => {
  it('continues an incoming traceparent and injects it onward', () => {
    const traceId = '4bf92f3577b34da6a3ce929d0e0e4736';
    const parent = extractContext((name) => (name === 'traceparent' ? `00-${traceId}-00f067aa0ba902b7-01` : undefined));
    const span = trace.getTracer('test').startSpan('child', {}, parent);
    expect(span.spanContext().traceId).toBe(traceId);
    const headers = context.with(trace.setSpan(context.active(), span), () => injectContext());
    expect(headers.traceparent).toMatch(new RegExp(`^00-${traceId}-${span.spanContext().spanId}-01$`));
    span.end();
  });
});

/**
 * OpenTelemetry set-up: one NodeTracerProvider per process with W3C trace-context propagation.
 * Tests use the in-memory exporter; deployed services export to Cloud Trace.
 */
import { context, propagation, trace, type Span, type Tracer } from '@opentelemetry/api';
import { W3CTraceContextPropagator } from '@opentelemetry/core';
import {
  BatchSpanProcessor,
  InMemorySpanExporter,
  ParentBasedSampler,
  TraceIdRatioBasedSampler,
  SimpleSpanProcessor,
  type SpanProcessor,
} from '@opentelemetry/sdk-trace-base';
import { NodeTracerProvider } from '@opentelemetry/sdk-trace-node';
import { TraceExporter } from '@google-cloud/opentelemetry-cloud-trace-exporter';
import type { Config } from '../config/config.js';

export interface Telemetry {
  tracer: Tracer;
  /** Present when `traceExporter` is `memory`: finished spans, for tests. */
  memoryExporter?: InMemorySpanExporter;
  shutdown(): Promise<void>;
}

let installed: Telemetry | undefined;

/** Installs the global tracer provider once per process; later calls return the same one. */
export function initTelemetry(config: Pick<Config, 'traceExporter' | 'traceSampleRatio'>): Telemetry {
  if (installed) return installed;
  const spanProcessors: SpanProcessor[] = [];
  let memoryExporter: InMemorySpanExporter | undefined;
  if (config.traceExporter === 'memory') {
    memoryExporter = new InMemorySpanExporter();
    spanProcessors.push(new SimpleSpanProcessor(memoryExporter));
  } else if (config.traceExporter === 'cloud-trace') {
    spanProcessors.push(new BatchSpanProcessor(new TraceExporter(), { maxQueueSize: 2048, maxExportBatchSize: 256 }));
  }
  // Unsampled spans are cheap non-recording spans that still carry fresh trace and span ids.
  const sampler = new ParentBasedSampler({ root: new TraceIdRatioBasedSampler(config.traceSampleRatio) });
  const provider = new NodeTracerProvider({ spanProcessors, sampler });
  provider.register({ propagator: new W3CTraceContextPropagator() });
  installed = {
    tracer: trace.getTracer('tally'),
    ...(memoryExporter ? { memoryExporter } : {}),
    shutdown: () => provider.shutdown(),
  };
  return installed;
}

/** The trace and span ids every written entity carries; empty strings outside a span. */
export interface TraceIds {
  traceId: string;
  spanId: string;
}

export function currentTraceIds(span: Span | undefined = trace.getActiveSpan()): TraceIds {
  const ctx = span?.spanContext();
  return { traceId: ctx?.traceId ?? '', spanId: ctx?.spanId ?? '' };
}

/** Extracts a W3C `traceparent` from carrier headers into a context to start spans in. */
export function extractContext(getHeader: (name: string) => string | null | undefined) {
  return propagation.extract(context.active(), {}, {
    get: (_carrier, key) => getHeader(key) ?? undefined,
    keys: () => [],
  });
}

/** Injects the active context as W3C headers (for outgoing calls and Pub/Sub attributes). */
export function injectContext(): Record<string, string> {
  const carrier: Record<string, string> = {};
  propagation.inject(context.active(), carrier);
  return carrier;
}

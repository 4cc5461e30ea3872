/**
 * The local Pub/Sub bridge backs off as the deployed subscription does (issue 11 item 12): a
 * failing handler is redelivered after a delay that doubles per attempt, not at once (the
 * emulator's immediate redelivery spun at about 40 error lines a second).
 */
import { randomUUID } from 'node:crypto';
import { PubSub } from '@google-cloud/pubsub';
import { afterAll, describe, expect, it } from 'vitest';
import { bridgeTopicToHandler, deployedRetryBackoff, retryDelayMs, type Bridge } from '../emulators/pubsub-bridge.js';
import { eventually } from './support/eventually.js';

const projectId = 'demo-tally-bridge';
const client = new PubSub({ projectId });
const bridges: Bridge[] = [];
afterAll(async () => {
  await Promise.all(bridges.map((b) => b.stop()));
  await client.close();
});

describe('pubsub bridge', () => {
  it('retry delays double from the minimum up to the maximum, as the deployed retry_policy', () => {
    expect([1, 2, 3, 4, 7, 8, 40].map((a) => retryDelayMs(a, deployedRetryBackoff))).toEqual([10_000, 20_000, 40_000, 80_000, 600_000, 600_000, 600_000]);
  });

  it('a failing handler is redelivered after growing delays, then acked once it succeeds', async () => {
    const topic = `bridge-test-${randomUUID().slice(0, 8)}`;
    const deliveriesAtMs: number[] = [];
    let errors = 0;
    const backoff = { minimumMs: 150, maximumMs: 600 };
    bridges.push(await bridgeTopicToHandler({
      client, projectId, topic, subscription: `${topic}-sub`, retryBackoff: backoff,
      onError: () => { errors += 1; },
      handler: async () => {
        deliveriesAtMs.push(Date.now());
        if (deliveriesAtMs.length < 4) throw new Error('not yet');
      },
    }));
    await client.topic(topic).publishMessage({ data: Buffer.from('x') });
    await eventually(() => expect(deliveriesAtMs.length).toBeGreaterThanOrEqual(4), { timeoutMs: 20_000, intervalMs: 50 });
    const gapsMs = deliveriesAtMs.slice(1).map((t, i) => t - deliveriesAtMs[i]!);
    // Each wait is at least the backoff of the attempt that failed (150, 300, 600 ms).
    gapsMs.forEach((gapMs, i) => expect(gapMs).toBeGreaterThanOrEqual(retryDelayMs(i + 1, backoff) - 5));
    expect(errors).toBe(3);
    // Acked on success: no fifth delivery.
    const deliveredMs = Date.now();
    await eventually(() => expect(Date.now() - deliveredMs).toBeGreaterThan(1_000), { timeoutMs: 3_000, intervalMs: 100 });
    expect(deliveriesAtMs).toHaveLength(4);
  });
});

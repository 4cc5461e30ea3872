/**
 * Dead letters and replays (issue 13 item 2, ADR 0030) on the real Pub/Sub and Firestore
 * emulators, through the real `tally` CLI in a subprocess:
 * - a poison message is dead-lettered by the emulator after the subscription's
 *   `maxDeliveryAttempts`, `tally events dlq list` shows it (and leaves it there), and after the fix
 *   `tally events dlq replay` re-delivers it to the subscription it came from only;
 * - `tally events replay` re-publishes a range of the outbox, byte for byte, for one consumer or
 *   all, filtered by tenant and type, in bounded pages that can be resumed.
 * Each describe has its own emulator project, so no other test file's topics or outbox are seen.
 */
import { execFile } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import path from 'node:path';
import type { CloudEvent } from '@google-cloud/functions-framework';
import type { Message, Subscription } from '@google-cloud/pubsub';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { bridgeTopicToHandler, type Bridge, type PubSubMessageData } from '../emulators/pubsub-bridge.js';
import { listDeadLetters } from '../functions/src/app/events/dead-letters.js';
import { createPubSubDeadLetterQueues } from '../functions/src/adapters/pubsub/dead-letter-queues.js';
import { isForOtherSubscription, replayTargetAttribute } from '../functions/src/app/events/replay-target.js';
import { domainEventsTopic } from '../functions/src/app/outbox/outbox-message.js';
import { encodeDomainEvent } from '../functions/src/adapters/proto/events-mapping.js';
import type { TallyClient } from '../functions/src/cli/client.js';
import { runCli } from '../functions/src/cli/main.js';
import { replayOutbox } from '../functions/src/app/events/outbox-replay.js';
import { eventually } from './support/eventually.js';
import { openAccount, transfer } from './support/ledger-helpers.js';
import { startTestStack, type TestStack } from './support/test-stack.js';

const cli = path.resolve(import.meta.dirname, '..', 'bin', 'tally.mjs');
interface Run { code: number; stdout: string; stderr: string }
/** The CLI as an operator runs it, pointed at this stack's emulator project. */
function tally(stack: TestStack, args: string[]): Promise<Run> {
  const projectId = stack.services.config.projectId;
  return new Promise((resolve) => {
    execFile(process.execPath, [cli, ...args], { env: { ...process.env, GCLOUD_PROJECT: projectId, GOOGLE_CLOUD_PROJECT: projectId }, timeout: 30_000, encoding: 'utf8' },
      (error, stdout, stderr) => resolve({ code: error ? Number(error.code ?? 1) : 0, stdout, stderr }));
  });
}
function json<T>(run: Run): T {
  expect(run.code, run.stderr).toBe(0);
  return JSON.parse(run.stdout) as T;
}

/**
 * The same CLI in process (its parsing and commands are the same code; a subprocess costs seconds on
 * this machine), pointed at the stack's project for the duration, with its output captured.
 */
async function tallyInProcess(stack: TestStack, args: string[]): Promise<Run> {
  const saved = { GCLOUD_PROJECT: process.env.GCLOUD_PROJECT, GOOGLE_CLOUD_PROJECT: process.env.GOOGLE_CLOUD_PROJECT };
  const projectId = stack.services.config.projectId;
  Object.assign(process.env, { GCLOUD_PROJECT: projectId, GOOGLE_CLOUD_PROJECT: projectId });
  const out = vi.spyOn(process.stdout, 'write').mockImplementation(() => true);
  const err = vi.spyOn(process.stderr, 'write').mockImplementation(() => true);
  try {
    const code = await runCli(args);
    return { code, stdout: out.mock.calls.map((c) => String(c[0])).join(''), stderr: err.mock.calls.map((c) => String(c[0])).join('') };
  } finally {
    out.mockRestore();
    err.mockRestore();
    for (const [k, v] of Object.entries(saved)) {
      if (v === undefined) delete process.env[k];
      else process.env[k] = v;
    }
    process.exitCode = undefined;
  }
}

/** A ledger entry through the API; its outbox event id. */
async function postEntry(owner: TallyClient, accounts: { a: string; b: string }): Promise<string> {
  const { entry } = await owner.ledger.createEntry(transfer(accounts.a, accounts.b, 700n));
  return `evt_${entry!.id}`;
}

/** Every message a fresh subscription on `domain-events` receives, acked at once. */
async function listen(stack: TestStack): Promise<{ messages: Message[]; close(): Promise<void> }> {
  await stack.services.bus.ensureTopics([domainEventsTopic]);
  const [sub]: [Subscription, ...unknown[]] = await stack.services.bus.client.topic(domainEventsTopic)
    .createSubscription(`listen-${randomUUID().slice(0, 8)}`, { enableMessageOrdering: true, ackDeadlineSeconds: 30 });
  const messages: Message[] = [];
  sub.on('message', (m: Message) => { messages.push(m); m.ack(); });
  return { messages, close: () => sub.close() };
}

const waitFor = <T>(probe: () => T | undefined | false | Promise<T | undefined | false>, what: string): Promise<T> => eventually(async () => {
  const value = await probe();
  if (value === undefined || value === false) throw new Error(`no ${what} yet`);
  return value;
}, { timeoutMs: 20_000, intervalMs: 100 });

describe('dead letters: a poison message is dead-lettered, listed, and replayed to its subscription after the fix', () => {
  let stack: TestStack;
  const bridges: Bridge[] = [];
  const consumer = 'events-test-consumer';
  const bystander = 'events-test-bystander';
  /** Event ids each consumer processed (a skipped replay for another subscription is not processed). */
  const processed: Record<string, string[]> = { [consumer]: [], [bystander]: [] };
  const poisoned = new Set<string>();

  /** A consumer as a deployed one is written: skip replays aimed elsewhere, fail on what it cannot handle yet. */
  const consumerHandler = (name: string) => async (event: CloudEvent<PubSubMessageData>): Promise<void> => {
    const message = event.data!.message;
    if (isForOtherSubscription(message.attributes, event.data!.subscription)) return;
    if (name === consumer && poisoned.has(message.attributes.eventId ?? '')) throw new Error('cannot handle this event (yet)');
    processed[name]!.push(message.attributes.eventId ?? '');
  };

  beforeAll(async () => {
    stack = await startTestStack({ GCLOUD_PROJECT: `demo-tally-dlq-${randomUUID().slice(0, 8)}` });
    const client = stack.services.bus.client;
    await stack.services.bus.ensureTopics([domainEventsTopic, `${consumer}-dlq`]);
    await client.topic(`${consumer}-dlq`).createSubscription(`${consumer}-dlq-hold`, { ackDeadlineSeconds: 10 });
    // As Terraform declares it: the emulator honours the dead-letter policy (checked: attempts 1..5, then the DLQ topic).
    await client.topic(domainEventsTopic).createSubscription(consumer, {
      ackDeadlineSeconds: 10, enableMessageOrdering: false,
      deadLetterPolicy: { deadLetterTopic: `projects/${stack.services.config.projectId}/topics/${consumer}-dlq`, maxDeliveryAttempts: 5 },
    });
    await client.topic(domainEventsTopic).createSubscription(bystander, { ackDeadlineSeconds: 10 });
    for (const name of [consumer, bystander]) {
      bridges.push(await bridgeTopicToHandler({
        client, projectId: stack.services.config.projectId, topic: domainEventsTopic, subscription: name,
        handler: consumerHandler(name), retryBackoff: { minimumMs: 50, maximumMs: 200 },
      }));
    }
  });
  afterAll(async () => {
    for (const bridge of bridges) await bridge.stop();
    await stack.close();
  });

  it('dlq list shows the poison message with its source and attempts; dlq replay delivers it once, to that subscription only', async () => {
    const { owner, tenantId } = await stack.newTenant();
    const accounts = { a: await openAccount(owner), b: await openAccount(owner) };
    const poisonId = await postEntry(owner, accounts);
    const healthyId = await postEntry(owner, accounts);
    poisoned.add(poisonId);
    const outbox = stack.services.outbox;
    const page = await outbox.store.listEventsBetween({ tenantId, fromMs: 0, toMs: Date.now() + 60_000, limit: 10 });
    for (const event of page.events) {
      await stack.services.bus.publish(domainEventsTopic, encodeDomainEvent(event), { eventId: event.id, type: event.type, tenantId, aggregateId: event.aggregateId });
    }
    await waitFor(() => processed[bystander]!.includes(poisonId) && processed[consumer]!.includes(healthyId), 'deliveries');

    // Five failed deliveries later the emulator moves it to the dead-letter topic; the hold keeps it
    // (waited for in process: each CLI run costs seconds on this machine).
    const queues = createPubSubDeadLetterQueues(stack.services.bus.client);
    await waitFor(async () => (await listDeadLetters({ queues, bus: stack.services.bus }, { subscription: consumer, max: 10 })).messages.length > 0, 'dead letter');
    await queues.close();
    // Listing consumes nothing: two listings at once (JSON, human table) both show it.
    const listedRun = await tally(stack, ['events', 'dlq', 'list', '--subscription', consumer, '--json']);
    const human = await tallyInProcess(stack, ['events', 'dlq', 'list']);
    const listed = json<{ messages: { eventId: string; sourceSubscription: string; deliveryCount: number; tenantId: string; holdSubscription: string }[]; routes: { sourceSubscription: string; holdSubscription: string; maxDeliveryAttempts: number }[] }>(listedRun);
    expect(listed.routes).toEqual([expect.objectContaining({ sourceSubscription: consumer, holdSubscription: `${consumer}-dlq-hold`, maxDeliveryAttempts: 5 })]);
    expect(listed.messages).toEqual([expect.objectContaining({ eventId: poisonId, sourceSubscription: consumer, deliveryCount: 5, tenantId, holdSubscription: `${consumer}-dlq-hold` })]);
    expect(human.code, human.stderr).toBe(0);
    expect(human.stdout).toMatch(new RegExp(`^${consumer}\\s+${consumer}-dlq\\s+${consumer}-dlq-hold\\s+5\\s+1$`, 'm'));
    expect(human.stdout).toContain(poisonId);
    expect(processed[consumer]).not.toContain(poisonId);

    // The fix ships; the replay re-delivers it to its subscription, with progress, and empties the hold.
    poisoned.delete(poisonId);
    const replay = await tally(stack, ['events', 'dlq', 'replay', '--subscription', consumer]);
    expect(replay.code, replay.stderr).toBe(0);
    expect(replay.stderr).toMatch(/dlq replay: 1 replayed, 0 failed/);
    expect(replay.stdout).toMatch(new RegExp(`dead letters replayed: 1 \\(${consumer}: 1\\), failed: 0`));
    await waitFor(() => processed[consumer]!.includes(poisonId), 'the replayed message processed');
    const after = createPubSubDeadLetterQueues(stack.services.bus.client);
    expect((await listDeadLetters({ queues: after, bus: stack.services.bus }, { max: 10 })).messages).toEqual([]);
    await after.close();

    // Only its subscription took it: the bystander got the replay too (same topic) and skipped it.
    const sentinel = await postEntry(owner, accounts);
    const sentinelEvent = (await outbox.store.listEventsBetween({ tenantId, fromMs: 0, toMs: Date.now() + 60_000, limit: 10 })).events.find((e) => e.id === sentinel)!;
    await stack.services.bus.publish(domainEventsTopic, encodeDomainEvent(sentinelEvent), { eventId: sentinel, type: sentinelEvent.type, tenantId, aggregateId: sentinelEvent.aggregateId });
    await waitFor(() => processed[bystander]!.includes(sentinel) && processed[consumer]!.includes(sentinel), 'the sentinel');
    expect(processed[bystander]!.filter((id) => id === poisonId)).toHaveLength(1);
    expect(processed[consumer]!.filter((id) => id === poisonId)).toHaveLength(1);
  });

  it('dlq list --max N lists N and says more are waiting only when more are (exactly N waiting is complete); dlq replay --max N exits 3 (run again) only when more are waiting', async () => {
    const { owner, tenantId } = await stack.newTenant();
    const accounts = { a: await openAccount(owner), b: await openAccount(owner) };
    const ids = [await postEntry(owner, accounts), await postEntry(owner, accounts), await postEntry(owner, accounts)];
    for (const id of ids) poisoned.add(id);
    const page = await stack.services.outbox.store.listEventsBetween({ tenantId, fromMs: 0, toMs: Date.now() + 60_000, limit: 10 });
    for (const event of page.events) {
      await stack.services.bus.publish(domainEventsTopic, encodeDomainEvent(event), { eventId: event.id, type: event.type, tenantId, aggregateId: event.aggregateId });
    }
    const queues = createPubSubDeadLetterQueues(stack.services.bus.client);
    await waitFor(async () => (await listDeadLetters({ queues, bus: stack.services.bus }, { subscription: consumer, max: 10 })).messages.length === 3, 'three dead letters');
    await queues.close();

    const two = await tallyInProcess(stack, ['events', 'dlq', 'list', '--subscription', consumer, '--max', '2']);
    expect(two.code, two.stderr).toBe(0);
    expect(two.stdout.trimEnd().split('\n').at(-1)).toBe('(stopped at --max 2: more are waiting)');
    expect(ids.filter((id) => two.stdout.includes(id))).toHaveLength(2);
    const twoJson = JSON.parse((await tallyInProcess(stack, ['events', 'dlq', 'list', '--subscription', consumer, '--max', '2', '--json'])).stdout) as { messages: { eventId: string }[]; complete: boolean };
    expect(twoJson.complete).toBe(false);
    expect(new Set(twoJson.messages.map((m) => m.eventId)).size).toBe(2);

    const three = await tallyInProcess(stack, ['events', 'dlq', 'list', '--subscription', consumer, '--max', '3', '--json']);
    const threeJson = JSON.parse(three.stdout) as { messages: { eventId: string }[]; complete: boolean };
    expect(threeJson.messages.map((m) => m.eventId).sort()).toEqual([...ids].sort());
    expect(threeJson.complete).toBe(true);
    const threeHuman = await tallyInProcess(stack, ['events', 'dlq', 'list', '--subscription', consumer, '--max', '3']);
    expect(threeHuman.stdout).not.toContain('stopped at --max');
    expect(threeHuman.stdout).toMatch(new RegExp(`^${consumer}\\s+${consumer}-dlq\\s+${consumer}-dlq-hold\\s+5\\s+3$`, 'm'));

    // Listing consumed nothing; replayed after the fix, the hold is empty again for the next test.
    // Replay --max N says "run again" (exit 3) only when more are waiting: 2 of 3, then exactly the 1 left.
    for (const id of ids) poisoned.delete(id);
    const replayTwo = await tallyInProcess(stack, ['events', 'dlq', 'replay', '--subscription', consumer, '--max', '2', '--json']);
    expect(replayTwo.code, replayTwo.stderr).toBe(3);
    expect(JSON.parse(replayTwo.stdout)).toMatchObject({ replayed: 2, failed: 0, complete: false, bySubscription: { [consumer]: 2 } });
    const replayLast = await tallyInProcess(stack, ['events', 'dlq', 'replay', '--subscription', consumer, '--max', '1']);
    expect(replayLast.code, replayLast.stderr).toBe(0);
    expect(replayLast.stdout.trimEnd()).toBe(`dead letters replayed: 1 (${consumer}: 1), failed: 0`);
    await waitFor(() => ids.every((id) => processed[consumer]!.includes(id)), 'the replayed messages processed');
  });

  it('refuses an unknown subscription and bad bounds with a clear error', async () => {
    const unknown = await tallyInProcess(stack, ['events', 'dlq', 'list', '--subscription', 'no-such-sub']);
    const bad = await tallyInProcess(stack, ['events', 'dlq', 'replay', '--max', '0', '--json']);
    expect(unknown.code).toBe(1);
    expect(unknown.stderr).toMatch(/NOT_FOUND: no subscription no-such-sub with a dead-letter policy \(known: events-test-consumer\)/);
    expect(bad.code).toBe(1);
    expect(JSON.parse(bad.stdout)).toMatchObject({ error: { code: 'cli', message: '--max 0: expected an integer in [1, 100000]' } });
  });
});

describe('tally events replay: the outbox re-published for one consumer or all', () => {
  let stack: TestStack;
  let bus: Awaited<ReturnType<typeof listen>>;

  beforeAll(async () => {
    stack = await startTestStack({ GCLOUD_PROJECT: `demo-tally-replay-${randomUUID().slice(0, 8)}` });
    bus = await listen(stack);
  });
  afterAll(async () => { await bus.close(); await stack.close(); });

  it('replays a tenant\'s range byte for byte, aimed at the analytics subscription, other tenants untouched; --type filters; pages resume', async () => {
    const a = await stack.newTenant();
    const b = await stack.newTenant();
    const accountsA = { a: await openAccount(a.owner), b: await openAccount(a.owner) };
    const accountsB = { a: await openAccount(b.owner), b: await openAccount(b.owner) };
    const from = new Date(Date.now() - 1_000).toISOString();
    const idsA = [await postEntry(a.owner, accountsA), await postEntry(a.owner, accountsA), await postEntry(a.owner, accountsA)];
    const idB = await postEntry(b.owner, accountsB);
    const to = new Date(Date.now() + 1_000).toISOString();

    // Two runs at once (each CLI start costs seconds here): A's range for analytics, and every
    // tenant's range for all consumers, one event per page, one page: stopped (exit 3) with a cursor.
    const [aimed, first] = await Promise.all([
      tally(stack, ['events', 'replay', '--from', from, '--to', to, '--tenant', a.tenantId, '--consumer', 'analytics', '--json']),
      tally(stack, ['events', 'replay', '--from', from, '--to', to, '--consumer', 'all', '--page-size', '1', '--pages-max', '1', '--json']),
    ]);
    expect(json<{ published: number; read: number; complete: boolean; targetSubscription: string }>(aimed))
      .toMatchObject({ published: 3, read: 3, complete: true, targetSubscription: 'analytics-sink' });
    const replayed = await waitFor(() => {
      const got = bus.messages.filter((m) => idsA.includes(m.attributes.eventId ?? '') && m.attributes[replayTargetAttribute] === 'analytics-sink');
      return got.length === 3 ? got : undefined;
    }, 'three replayed events');
    const stored = (await stack.services.outbox.store.listEventsBetween({ tenantId: a.tenantId, fromMs: 0, toMs: Date.now() + 60_000, limit: 10 })).events;
    for (const m of replayed) {
      const event = stored.find((e) => e.id === m.attributes.eventId)!;
      expect(Buffer.from(m.data)).toEqual(Buffer.from(encodeDomainEvent(event)));
      expect(m.attributes).toMatchObject({ tenantId: a.tenantId, aggregateId: event.aggregateId, [replayTargetAttribute]: 'analytics-sink', tallyReplaySource: 'outbox' });
      expect(m.orderingKey).toBe(event.aggregateId);
    }
    expect(bus.messages.some((m) => m.attributes.eventId === idB && m.attributes[replayTargetAttribute] !== undefined)).toBe(false);

    // --type that matches nothing publishes nothing (the use case the command runs, in process).
    expect(await replayOutbox(stack.services.outbox, { fromMs: Date.parse(from), toMs: Date.parse(to), tenantId: a.tenantId, type: 'payment.created', pageSize: 10, pagesMax: 10 }))
      .toMatchObject({ published: 0, read: 3, complete: true });
    expect(first.code, first.stderr).toBe(3);
    const stopped = JSON.parse(first.stdout) as { published: number; complete: boolean; resumeCursor: string };
    expect(stopped).toMatchObject({ published: 1, complete: false });
    const rest = await tally(stack, ['events', 'replay', '--from', from, '--to', to, '--consumer', 'all', '--page-size', '1', '--after', stopped.resumeCursor]);
    expect(rest.code, rest.stderr).toBe(0);
    expect(rest.stderr).toMatch(/events replay: page 1: 1 read, 1 published/);
    expect(rest.stdout).toMatch(/events replayed to every consumer: 3 published of 3 read in 3 pages, 0 failed/);
    await waitFor(() => bus.messages.filter((m) => m.attributes.tallyReplaySource === 'outbox' && m.attributes[replayTargetAttribute] === undefined).length === 4 || undefined, 'the unaimed replay');
  });

  it('refuses bad ranges and consumers with a clear usage error, before touching anything', async () => {
    const cases: [string[], RegExp][] = [
      [['--from', '2026-12-02T00:00:00Z', '--to', '2026-12-01T00:00:00Z', '--consumer', 'all'], /--from 2026-12-02T00:00:00Z must be before --to/],
      [['--from', '2026-12-01 10:00', '--to', '2026-12-02T00:00:00Z', '--consumer', 'all'], /--from 2026-12-01 10:00: expected an ISO 8601 date or instant with a zone/],
      [['--from', '2026-12-01', '--to', '2026-12-02', '--consumer', 'billing'], /--consumer billing: expected one of analytics, all/],
      [['--from', '2026-12-01', '--to', '2026-12-02', '--consumer', 'all', '--tenant', '../x'], /--tenant \.\.\/x: expected a tenant id/],
      [['--from', '2026-12-01', '--to', '2026-12-02', '--consumer', 'all', '--page-size', '0'], /--page-size 0: expected an integer in \[1, 1000\]/],
    ];
    for (const [args, message] of cases) {
      const run = await tallyInProcess(stack, ['events', 'replay', ...args]);
      expect(run.code, args.join(' ')).toBe(1);
      expect(run.stderr).toMatch(message);
    }
    // A missing required option is a usage error (exit 2), as everywhere in the CLI.
    const missing = await tallyInProcess(stack, ['events', 'replay', '--from', '2026-12-01', '--to', '2026-12-02']);
    expect(missing.code).toBe(2);
    expect(missing.stderr).toMatch(/required option '--consumer <name>' not specified/);
  });
});

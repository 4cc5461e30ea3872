/**
 * Terraform cannot run here; we parse terraform/*.tf with @cdktf/hcl2json (HCL's own parser, WASM)
 * and cross-check it against what the code relies on.
 */
import { readFileSync, readdirSync } from 'node:fs';
import path from 'node:path';
import { parse } from '@cdktf/hcl2json';
import { describe, expect, it } from 'vitest';
import { paymentAnomalyMessage } from '../functions/src/app/payments/index.js';
import { subscriptionPolicies } from '../functions/src/adapters/pubsub/subscription-policies.js';

const root = path.resolve(import.meta.dirname, '..');

type Blocks = Record<string, Record<string, Record<string, unknown>[]>>;

async function terraform(): Promise<{ resource: Blocks }> {
  const merged: { resource: Blocks } = { resource: {} };
  for (const file of readdirSync(path.join(root, 'terraform')).filter((f) => f.endsWith('.tf'))) {
    const parsed = (await parse(file, readFileSync(path.join(root, 'terraform', file), 'utf8'))) as { resource?: Blocks };
    for (const [type, byName] of Object.entries(parsed.resource ?? {})) merged.resource[type] = { ...merged.resource[type], ...byName };
  }
  return merged;
}

describe('terraform', () => {
  it('parses and declares every TTL field that firestore.indexes.json declares', async () => {
    const tf = await terraform();
    const indexes = JSON.parse(readFileSync(path.join(root, 'firestore.indexes.json'), 'utf8')) as {
      fieldOverrides: { collectionGroup: string; fieldPath: string; ttl?: boolean }[];
    };
    const ttlFields = Object.values(tf.resource.google_firestore_field ?? {})
      .map((blocks) => blocks[0] as { collection: string; field: string; ttl_config?: unknown })
      .filter((f) => f.ttl_config !== undefined);
    for (const override of indexes.fieldOverrides.filter((o) => o.ttl)) {
      expect(ttlFields).toContainEqual(expect.objectContaining({ collection: override.collectionGroup, field: override.fieldPath, ttl_config: expect.anything() }));
    }
    expect(ttlFields.length).toBe(indexes.fieldOverrides.filter((o) => o.ttl).length);
  });

  it('declares the api Cloud Run service with its own service account and the admin key secret', async () => {
    const tf = await terraform();
    const api = tf.resource.google_cloud_run_v2_service?.api?.[0] as { template: { service_account: string; containers: { env: { name: string }[] }[] }[] };
    expect(api).toBeDefined();
    expect(api.template[0]!.service_account).toContain('google_service_account.api');
    const env = api.template[0]!.containers[0]!.env.map((e) => e.name);
    expect(env).toEqual(expect.arrayContaining(['TALLY_TRACE_EXPORTER', 'TALLY_PLATFORM_ADMIN_KEY_SHA256']));
  });

  it('the api service speaks HTTP/2 end to end: an h2c port, served by the dual-protocol entry', async () => {
    const tf = await terraform();
    const container = (tf.resource.google_cloud_run_v2_service?.api?.[0] as { template: { containers: { command?: string[]; ports?: { name: string; container_port: number }[] }[] }[] }).template[0]!.containers[0]!;
    expect(container.ports?.[0]).toMatchObject({ name: 'h2c', container_port: 8080 });
    const entry = container.command?.at(-1) ?? '';
    expect(readFileSync(path.join(root, entry), 'utf8')).toContain('createDualProtocolServer');
  });

  it('the TTL field name is the one the idempotency store writes', () => {
    const store = readFileSync(path.join(root, 'functions/src/adapters/firestore/idempotency-store.ts'), 'utf8');
    const indexes = readFileSync(path.join(root, 'firestore.indexes.json'), 'utf8');
    expect(store).toMatch(/expireAt: Timestamp\.fromMillis/);
    expect(indexes).toContain('"fieldPath": "expireAt"');
  });
});

describe('terraform and the code agree', () => {
  it('declares every composite index of firestore.indexes.json', async () => {
    const tf = await terraform();
    const indexes = JSON.parse(readFileSync(path.join(root, 'firestore.indexes.json'), 'utf8')) as {
      indexes: { collectionGroup: string; queryScope: string; fields: { fieldPath: string; order?: string; arrayConfig?: string }[] }[];
    };
    const declared = Object.values(tf.resource.google_firestore_index ?? {}).map((blocks) => {
      const b = blocks[0] as { collection: string; query_scope?: string; fields: { field_path: string; order?: string; array_config?: string }[] };
      return JSON.stringify({ c: b.collection, s: b.query_scope ?? 'COLLECTION', f: b.fields.map((f) => [f.field_path, f.order ?? f.array_config]) });
    });
    for (const index of indexes.indexes) {
      const want = JSON.stringify({ c: index.collectionGroup, s: index.queryScope, f: index.fields.map((f) => [f.fieldPath, f.order ?? f.arrayConfig]) });
      expect(declared).toContain(want);
    }
    expect(declared.length).toBe(indexes.indexes.length);
  });

  it('declares every single-field index override of firestore.indexes.json', async () => {
    const tf = await terraform();
    const indexes = JSON.parse(readFileSync(path.join(root, 'firestore.indexes.json'), 'utf8')) as {
      fieldOverrides: { collectionGroup: string; fieldPath: string; ttl?: boolean; indexes: unknown[] }[];
    };
    const fields = Object.values(tf.resource.google_firestore_field ?? {}).map((b) => b[0] as { collection: string; field: string });
    for (const o of indexes.fieldOverrides.filter((x) => x.indexes.length > 0)) {
      expect(fields).toContainEqual(expect.objectContaining({ collection: o.collectionGroup, field: o.fieldPath }));
    }
  });

  it('declares every index exemption of firestore.indexes.json, and exempts only fields no query uses', async () => {
    const tf = await terraform();
    const indexes = JSON.parse(readFileSync(path.join(root, 'firestore.indexes.json'), 'utf8')) as {
      indexes: { collectionGroup: string; fields: { fieldPath: string }[] }[];
      fieldOverrides: { collectionGroup: string; fieldPath: string; ttl?: boolean; indexes: unknown[] }[];
    };
    const exempt = indexes.fieldOverrides.filter((o) => !o.ttl && o.indexes.length === 0);
    expect(exempt.length).toBeGreaterThan(0);
    const declared = Object.values(tf.resource.google_firestore_field ?? {})
      .map((b) => b[0] as { collection: string; field: string; index_config?: Record<string, unknown>[]; ttl_config?: unknown })
      .filter((f) => f.ttl_config === undefined && f.index_config !== undefined && Object.keys(f.index_config[0] ?? {}).length === 0)
      .map((f) => `${f.collection}.${f.field}`);
    expect(declared.sort()).toEqual(exempt.map((o) => `${o.collectionGroup}.${o.fieldPath}`).sort());
    for (const o of exempt) {
      // A composite index on an exempted field would still work, but it means a query uses it.
      expect(indexes.indexes.filter((i) => i.collectionGroup === o.collectionGroup).flatMap((i) => i.fields.map((f) => f.fieldPath))).not.toContain(o.fieldPath);
    }
  });

  it('counts the unmatched and rejected events with log-based metrics on the messages the handler logs', async () => {
    const tf = await terraform();
    const source = readFileSync(path.join(root, 'functions/src/handlers/webhooks/psp-webhook.ts'), 'utf8');
    const metrics = Object.values(tf.resource.google_logging_metric ?? {}).map((b) => b[0] as { name: string; filter: string });
    for (const name of ['tally/psp_webhook_unmatched', 'tally/psp_webhook_rejected']) {
      const metric = metrics.find((m) => m.name === name);
      expect(metric, name).toBeDefined();
      const message = /jsonPayload\.message="([^"]+)"/.exec(metric!.filter)?.[1];
      expect(source).toContain(`'${message}'`);
    }
  });

  it('counts payment anomalies with a log-based metric on the message the payments use cases log', async () => {
    const tf = await terraform();
    const metrics = Object.values(tf.resource.google_logging_metric ?? {}).map((b) => b[0] as { name: string; filter: string });
    const metric = metrics.find((m) => m.name === 'tally/payment_anomaly');
    expect(metric).toBeDefined();
    expect(/jsonPayload\.message="([^"]+)"/.exec(metric!.filter)?.[1]).toBe(paymentAnomalyMessage);
  });

  it('declares a function for every Functions Framework registration in functions/src/index.ts', async () => {
    const tf = await terraform();
    const source = readFileSync(path.join(root, 'functions/src/index.ts'), 'utf8');
    const registered = [...source.matchAll(/^(?:http|cloudEvent)\('(\w+)'/gm)].map((m) => m[1]);
    const functions = Object.values(tf.resource.google_cloudfunctions2_function ?? {}).map((b) => (b[0] as { name: string }).name);
    const runServices = Object.values(tf.resource.google_cloud_run_v2_service ?? {}).map((b) => (b[0] as { name: string }).name);
    expect(registered.length).toBeGreaterThan(1);
    for (const name of registered) expect([...functions, ...runServices]).toContain(name);
  });
});

describe('terraform: Pub/Sub delivery, dead letters and the outbox relay', () => {
  interface Fn { name: string; event_trigger?: { event_type: string; retry_policy?: string; event_filters?: { attribute: string; value: string; operator?: string }[] }[] }
  interface Sub { topic: string; push_config?: { push_endpoint: string }[]; dead_letter_policy?: { dead_letter_topic: string; max_delivery_attempts: number }[] }
  const first = <T>(blocks: Record<string, unknown>[] | undefined): T => blocks![0] as T;
  const cloudEventNames = (): string[] => [...readFileSync(path.join(root, 'functions/src/index.ts'), 'utf8').matchAll(/^cloudEvent\('(\w+)'/gm)].map((m) => m[1]!);

  it('feeds every Pub/Sub-triggered function from a push subscription with a dead-letter policy', async () => {
    const tf = await terraform();
    const fns = tf.resource.google_cloudfunctions2_function ?? {};
    const subs = Object.entries(tf.resource.google_pubsub_subscription ?? {}).map(([key, b]) => ({ key, ...first<Sub>(b) }));
    const topicNames = Object.fromEntries(Object.entries(tf.resource.google_pubsub_topic ?? {}).map(([key, b]) => [key, first<{ name: string }>(b).name]));
    const agentPublishes = Object.values(tf.resource.google_pubsub_topic_iam_member ?? {}).map((b) => first<{ topic: string; role: string; member: string }>(b))
      .filter((m) => m.role === 'roles/pubsub.publisher' && m.member === '${local.pubsub_service_agent}').map((m) => m.topic);
    const agentSubscribes = Object.values(tf.resource.google_pubsub_subscription_iam_member ?? {}).map((b) => first<{ subscription: string; role: string; member: string }>(b))
      .filter((m) => m.role === 'roles/pubsub.subscriber' && m.member === '${local.pubsub_service_agent}').map((m) => m.subscription);
    const pubsubTriggered = cloudEventNames().filter((name) => {
      const fn = Object.values(fns).map((b) => first<Fn>(b)).find((f) => f.name === name);
      expect(fn, `function ${name} declared`).toBeDefined();
      return !fn!.event_trigger?.some((t) => t.event_type.startsWith('google.cloud.firestore.'));
    });
    expect(pubsubTriggered).toEqual(expect.arrayContaining(['processPspEvent', 'outboxSweeper', 'paymentJanitor', 'ledgerMaintenance']));
    for (const name of pubsubTriggered) {
      const [key, blocks] = Object.entries(fns).find(([, b]) => first<Fn>(b).name === name)!;
      // No Eventarc Pub/Sub trigger beside the push subscription: it would deliver every message twice.
      expect(first<Fn>(blocks).event_trigger, `${name} has no event_trigger`).toBeUndefined();
      const feeding = subs.filter((s) => s.push_config?.[0]?.push_endpoint.startsWith(`\${google_cloudfunctions2_function.${key}.url}/projects/`));
      expect(feeding, `a push subscription feeds ${name}`).toHaveLength(1);
      const sub = feeding[0]!;
      const topicKey = /^\$\{google_pubsub_topic\.(\w+)\.id\}$/.exec(sub.topic)?.[1];
      expect(sub.push_config![0]!.push_endpoint.endsWith(`/topics/${topicNames[topicKey!]}`), 'push path names the topic').toBe(true);
      const dlq = sub.dead_letter_policy?.[0];
      expect(dlq, `${sub.key} has a dead_letter_policy`).toBeDefined();
      expect(dlq!.max_delivery_attempts).toBeGreaterThanOrEqual(5);
      expect(dlq!.max_delivery_attempts).toBeLessThanOrEqual(100);
      expect(dlq!.dead_letter_topic).not.toBe(sub.topic);
      expect(agentPublishes, `the Pub/Sub service agent publishes to ${dlq!.dead_letter_topic}`).toContain(dlq!.dead_letter_topic);
      expect(agentSubscribes, `the Pub/Sub service agent subscribes to ${sub.key}`).toContain(`\${google_pubsub_subscription.${sub.key}.name}`);
      // Somebody keeps what is dead-lettered: a subscription on the DLQ topic.
      expect(subs.some((s) => s.topic === dlq!.dead_letter_topic), `a subscription holds ${dlq!.dead_letter_topic}`).toBe(true);
    }
  });

  it('declares every subscription with the numbers of subscription-policies.ts, the ones the local bridge uses (issue 13 item 1)', async () => {
    const tf = await terraform();
    interface FullSub extends Sub { name: string; ack_deadline_seconds: number; enable_message_ordering?: boolean; retry_policy?: { minimum_backoff: string; maximum_backoff: string }[] }
    const topicNames = Object.fromEntries(Object.entries(tf.resource.google_pubsub_topic ?? {}).map(([key, b]) => [`\${google_pubsub_topic.${key}.id}`, first<{ name: string }>(b).name]));
    const subs = Object.values(tf.resource.google_pubsub_subscription ?? {}).map((b) => first<FullSub>(b));
    const seconds = (ms: number) => `${ms / 1000}s`;
    const declared = subs.filter((s) => s.dead_letter_policy !== undefined).map((s) => ({
      subscription: s.name, topic: topicNames[s.topic], ackDeadlineSeconds: s.ack_deadline_seconds,
      retryMinimumBackoff: s.retry_policy?.[0]?.minimum_backoff, retryMaximumBackoff: s.retry_policy?.[0]?.maximum_backoff,
      maxDeliveryAttempts: s.dead_letter_policy![0]!.max_delivery_attempts, deadLetterTopic: topicNames[s.dead_letter_policy![0]!.dead_letter_topic],
      deadLetterHoldSubscription: subs.find((h) => h.topic === s.dead_letter_policy![0]!.dead_letter_topic && h.push_config === undefined)?.name,
      messageOrdering: s.enable_message_ordering ?? false,
    }));
    const expected = Object.values(subscriptionPolicies).map((p) => ({
      subscription: p.subscription, topic: p.topic, ackDeadlineSeconds: p.ackDeadlineSeconds,
      retryMinimumBackoff: seconds(p.retryMinimumBackoffMs), retryMaximumBackoff: seconds(p.retryMaximumBackoffMs),
      maxDeliveryAttempts: p.maxDeliveryAttempts, deadLetterTopic: p.deadLetterTopic, deadLetterHoldSubscription: p.deadLetterHoldSubscription,
      messageOrdering: p.messageOrdering,
    }));
    const byName = (a: { subscription: string }, b: { subscription: string }) => a.subscription.localeCompare(b.subscription);
    expect(declared.sort(byName)).toEqual(expected.sort(byName));
    // Every push subscription (each feeds a function) is one of them: none without a policy here.
    for (const s of subs.filter((x) => x.push_config !== undefined)) expect(Object.keys(subscriptionPolicies), s.name).toContain(s.name);
  });

  it('npm start feeds every subscription it bridges with its policy, so dead letters work locally as deployed (issue 13 item 1)', () => {
    // The bridge creates the emulator subscription with the policy's dead-letter topic only when
    // given the policy: npm start once bridged webhook-dispatcher with the backoff alone, and a
    // failing dispatch retried forever locally instead of dead-lettering.
    for (const file of ['emulators/start.ts', 'emulators/billing-ticks.ts']) {
      const source = readFileSync(path.join(root, file), 'utf8');
      const calls = source.split('bridgeTopicToHandler({').slice(1).map((rest) => rest.slice(0, rest.indexOf('});')));
      expect(calls.length, `${file} bridges subscriptions`).toBeGreaterThan(0);
      for (const call of calls) expect(call, `${file}: a bridge without its policy`).toMatch(/\bpolicy\b/);
    }
  });

  it('every declared dead-letter topic is attached to some subscription', async () => {
    const tf = await terraform();
    const attached = new Set(Object.values(tf.resource.google_pubsub_subscription ?? {}).flatMap((b) => first<Sub>(b).dead_letter_policy?.map((d) => d.dead_letter_topic) ?? []));
    for (const [key, b] of Object.entries(tf.resource.google_pubsub_topic ?? {})) {
      if (first<{ name: string }>(b).name.endsWith('-dlq')) expect(attached, `${key} is attached`).toContain(`\${google_pubsub_topic.${key}.id}`);
    }
  });

  it('declares outboxRelay on Firestore document creation in the outbox, retried, and the topics the relay uses', async () => {
    const tf = await terraform();
    const relay = Object.values(tf.resource.google_cloudfunctions2_function ?? {}).map((b) => first<Fn>(b)).find((f) => f.name === 'outboxRelay');
    const trigger = relay?.event_trigger?.[0];
    expect(trigger?.event_type).toBe('google.cloud.firestore.document.v1.created');
    expect(trigger?.retry_policy).toBe('RETRY_POLICY_RETRY');
    expect(trigger?.event_filters).toContainEqual({ attribute: 'document', value: 'tenants/{tenantId}/outbox/{eventId}', operator: 'match-path-pattern' });
    const topics = Object.values(tf.resource.google_pubsub_topic ?? {}).map((b) => first<{ name: string }>(b).name);
    const relaySource = readFileSync(path.join(root, 'functions/src/app/outbox/outbox-message.ts'), 'utf8');
    expect(relaySource).toContain("domainEventsTopic = 'domain-events'");
    expect(topics).toEqual(expect.arrayContaining(['domain-events', 'ticks-outbox']));
    const jobs = Object.values(tf.resource.google_cloud_scheduler_job ?? {}).map((b) => first<{ pubsub_target: { topic_name: string }[] }>(b).pubsub_target[0]!.topic_name);
    expect(jobs).toContain('${google_pubsub_topic.ticks_outbox.id}');
  });
});

describe('terraform: secrets come from Secret Manager and every deployable can start (issue 11 item 6, ADR 0019)', () => {
  interface EnvVar { name: string; value?: string; secret?: string }
  interface Deployable { kind: string; key: string; name: string; serviceAccount: string; env: EnvVar[] }
  type RunService = { name: string; template: { service_account: string; containers: { env?: { name: string; value?: string; value_source?: { secret_key_ref: { secret: string }[] }[] }[] }[] }[] };
  type Fn = { name: string; service_config?: { service_account_email?: string; environment_variables?: Record<string, string>; secret_environment_variables?: { key: string; secret: string }[] }[] };

  async function deployables(): Promise<Deployable[]> {
    const tf = await terraform();
    const run = Object.entries(tf.resource.google_cloud_run_v2_service ?? {}).map(([key, b]) => {
      const s = b[0] as RunService;
      const env = (s.template[0]!.containers[0]!.env ?? []).map((e) => ({ name: e.name, value: e.value, secret: e.value_source?.[0]?.secret_key_ref[0]?.secret }));
      return { kind: 'run', key, name: s.name, serviceAccount: s.template[0]!.service_account, env };
    });
    const fns = Object.entries(tf.resource.google_cloudfunctions2_function ?? {}).map(([key, b]) => {
      const f = b[0] as Fn;
      const config = f.service_config?.[0];
      const env = [
        ...Object.entries(config?.environment_variables ?? {}).map(([name, value]) => ({ name, value })),
        ...(config?.secret_environment_variables ?? []).map((s) => ({ name: s.key, secret: s.secret })),
      ];
      return { kind: 'function', key, name: f.name, serviceAccount: config?.service_account_email ?? '', env };
    });
    return [...run, ...fns];
  }

  // The variables parseConfig reads, from its source (not a list kept by hand).
  const configSource = readFileSync(path.join(root, 'functions/src/platform/config/config.ts'), 'utf8');
  const configVariables = [...new Set([...configSource.matchAll(/\b(TALLY_[A-Z0-9_]+)\b/g)].map((m) => m[1]!))];
  const isSecret = (name: string) => /_(SECRET|API_KEY|KEY_HEX|KEY_SHA256|PASSWORD)$/.test(name);
  // Variables whose names mention a key but hold none, each with why.
  const notSecrets: Record<string, string> = {
    TALLY_KMS_KEY_VERSION: 'the name of a Cloud KMS key version; the key never leaves KMS',
    TALLY_LOCAL_SIGNING_KEY_FILE: 'development only: a local signer is refused when deployed',
  };

  it('classifies every credential-like variable the config reads', () => {
    expect(configVariables.filter(isSecret).sort()).toEqual(expect.arrayContaining([
      'TALLY_ADYEN_API_KEY', 'TALLY_ADYEN_HMAC_KEY_HEX', 'TALLY_PLATFORM_ADMIN_KEY_SHA256', 'TALLY_STRIPE_API_KEY', 'TALLY_STRIPE_WEBHOOK_SECRET',
    ]));
    for (const name of configVariables.filter((n) => /KEY|SECRET|TOKEN|PASSWORD/.test(n))) {
      expect(isSecret(name) || name in notSecrets, `${name} is a secret or explained in notSecrets`).toBe(true);
    }
  });

  it('wires every secret the config reads from Secret Manager, never as a plain value, readable by the deployable that uses it', async () => {
    const tf = await terraform();
    const all = await deployables();
    const secrets = tf.resource.google_secret_manager_secret ?? {};
    const accessors = Object.values(tf.resource.google_secret_manager_secret_iam_member ?? {}).map((b) => b[0] as { secret_id: string; role: string; member: string })
      .filter((m) => m.role === 'roles/secretmanager.secretAccessor');
    for (const name of configVariables.filter(isSecret)) {
      const uses = all.flatMap((d) => d.env.filter((e) => e.name === name).map((e) => ({ d, e })));
      expect(uses.length, `${name} is wired to some deployable`).toBeGreaterThan(0);
      for (const { d, e } of uses) {
        expect(e.value, `${d.name}: ${name} is not a plain value`).toBeUndefined();
        const secretKey = /^\$\{google_secret_manager_secret\.(\w+)\.secret_id\}$/.exec(e.secret ?? '')?.[1];
        expect(secretKey, `${d.name}: ${name} comes from a google_secret_manager_secret`).toBeDefined();
        expect(secrets[secretKey!], `google_secret_manager_secret.${secretKey} is declared`).toBeDefined();
        const sa = /^\$\{(google_service_account\.\w+)\.email\}$/.exec(d.serviceAccount)?.[1];
        expect(sa, `${d.name} runs as a declared service account`).toBeDefined();
        expect(accessors, `${d.name}'s service account may read ${secretKey}`).toContainEqual(expect.objectContaining({
          secret_id: `\${google_secret_manager_secret.${secretKey}.id}`, member: `serviceAccount:\${${sa}.email}`,
        }));
      }
    }
  });

  it('gives the deployables that call PSPs both connectors with their webhook secrets', async () => {
    const all = await deployables();
    for (const name of ['api', 'pspWebhook', 'processPspEvent', 'paymentJanitor']) {
      const d = all.find((x) => x.name === name);
      expect(d, name).toBeDefined();
      expect(d!.env.map((e) => e.name), name).toEqual(expect.arrayContaining([
        'TALLY_STRIPE_API_KEY', 'TALLY_STRIPE_WEBHOOK_SECRET', 'TALLY_ADYEN_API_KEY', 'TALLY_ADYEN_HMAC_KEY_HEX', 'TALLY_ADYEN_MERCHANT_ACCOUNT',
      ]));
    }
  });

  it("every deployable's environment passes the start-up checks as deployed (K_SERVICE set)", async () => {
    const { parseConfig } = await import('../functions/src/platform/config/config.js');
    // Secret values are stand-ins of the right shape; Terraform references resolve to plausible values.
    const standIn = (name: string) => (name.endsWith('_KEY_SHA256') ? 'a'.repeat(64) : name.endsWith('_KEY_HEX') ? 'ab'.repeat(32) : `stand-in-${name.toLowerCase()}`);
    const resolve = (value: string) => value
      .replace(/\$\{google_kms_crypto_key\.(\w+)\.id\}/g, 'projects/p/locations/europe-west1/keyRings/tally/cryptoKeys/$1')
      // URL variables (TALLY_CLICKHOUSE_URL is checked to be one) resolve to a URL.
      .replace(/\$\{var\.(\w+_url)\}/g, 'https://var-$1.example.com')
      .replace(/\$\{var\.(\w+)\}/g, 'var-$1');
    for (const d of await deployables()) {
      const env: Record<string, string> = { K_SERVICE: d.name, GCLOUD_PROJECT: 'tally-prod' };
      for (const e of d.env) env[e.name] = e.secret !== undefined ? standIn(e.name) : resolve(e.value ?? '');
      expect(() => parseConfig(env), `${d.name} starts`).not.toThrow();
    }
  });
});

describe('terraform: every webhook setting is declared (issue 16, ADR 0034)', () => {
  type Fn = { name: string; service_config?: { environment_variables?: Record<string, string> }[] };
  // The variables parseWebhooksConfig reads, from its source (not a list kept by hand).
  const webhooksConfigSource = readFileSync(path.join(root, 'functions/src/platform/config/webhooks-config.ts'), 'utf8');
  const webhookVariables = [...new Set([...webhooksConfigSource.matchAll(/\b(TALLY_WEBHOOK_[A-Z0-9_]+)\b/g)].map((m) => m[1]!))];
  // Settings only one of the two reads, each with the one that does.
  const onlyIn: Record<string, string> = {
    TALLY_WEBHOOK_INLINE_RECORD_MS: 'webhookDispatcher',
    TALLY_WEBHOOK_RECORD_GROUP_WRITES_MAX: 'webhookDispatcher',
    TALLY_WEBHOOK_RECORD_GROUP_WAITING_MAX: 'webhookDispatcher',
    TALLY_WEBHOOK_RETRIER_BATCH_MAX: 'webhookRetrier',
  };

  async function webhookFunctionsEnv(): Promise<Record<string, Record<string, string>>> {
    const parsed = (await parse('webhooks.tf', readFileSync(path.join(root, 'terraform/webhooks.tf'), 'utf8'))) as { resource: Blocks };
    const fns = Object.values(parsed.resource.google_cloudfunctions2_function ?? {}).map((b) => b[0] as Fn);
    return Object.fromEntries(['webhookDispatcher', 'webhookRetrier'].map((name) => {
      const fn = fns.find((f) => f.name === name);
      expect(fn, `${name} is declared in terraform/webhooks.tf`).toBeDefined();
      return [name, fn!.service_config?.[0]?.environment_variables ?? {}];
    }));
  }

  it('reads the settings from webhooks-config.ts', () => {
    expect(webhookVariables).toEqual(expect.arrayContaining(['TALLY_WEBHOOK_TIMEOUT_MS', 'TALLY_WEBHOOK_LEASE_MS', 'TALLY_WEBHOOK_INLINE_RECORD_MS']));
    expect(webhookVariables.length).toBeGreaterThanOrEqual(17);
    for (const name of Object.keys(onlyIn)) expect(webhookVariables).toContain(name);
  });

  it('sets every TALLY_WEBHOOK_* setting on webhookDispatcher and webhookRetrier, with the same value on both', async () => {
    const env = await webhookFunctionsEnv();
    for (const name of webhookVariables) {
      for (const fn of Object.keys(env)) {
        const wanted = onlyIn[name] === undefined || onlyIn[name] === fn;
        expect(env[fn]![name] !== undefined, `${name} ${wanted ? 'is set' : 'is not set'} on ${fn} (terraform/webhooks.tf)`).toBe(wanted);
      }
      if (onlyIn[name] === undefined) expect(env.webhookRetrier![name], `${name}: webhookRetrier and webhookDispatcher agree`).toBe(env.webhookDispatcher![name]);
    }
    // And nothing set there that the config does not read (a typo would be ignored silently).
    for (const [fn, vars] of Object.entries(env)) {
      for (const name of Object.keys(vars).filter((n) => n.startsWith('TALLY_WEBHOOK_'))) expect(webhookVariables, `${fn} sets ${name}`).toContain(name);
    }
  });

  it('the api and the callables, which attempt resends and test events, get the same delivery settings: webhooks.tf keeps the defaults they run with', async () => {
    // The api service (main.tf) and the callables (callables.tf) set only the KMS key: they run
    // ResendWebhookDelivery and SendTestWebhookEvent with the config's defaults. A lease or timeout
    // changed for the dispatcher and retrier alone would let one take another's running attempt,
    // so every shared setting in webhooks.tf must equal its default (or be set on those too).
    const defaults = Object.fromEntries([...webhooksConfigSource.matchAll(/int\(env, '(TALLY_WEBHOOK_[A-Z0-9_]+)', ([\d_ *]+),/g)]
      .map((m) => [m[1]!, m[2]!.replaceAll('_', '').split('*').reduce((product, factor) => product * Number(factor.trim()), 1)]));
    expect(Object.keys(defaults).length).toBeGreaterThanOrEqual(17);
    const env = await webhookFunctionsEnv();
    const otherDeliverers = ['main.tf', 'callables.tf'].map((file) => readFileSync(path.join(root, 'terraform', file), 'utf8'));
    for (const [name, fallback] of Object.entries(defaults)) {
      if (onlyIn[name] !== undefined) continue;
      const setElsewhere = otherDeliverers.some((text) => text.includes(name));
      if (!setElsewhere) expect(Number(env.webhookDispatcher![name]), `${name} in webhooks.tf is its default (${fallback}), which the api and callables use`).toBe(fallback);
    }
  });
});

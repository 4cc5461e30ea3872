/**
 * Terraform cannot run here; we parse terraform/*.tf with @cdktf/hcl2json (HCL's own parser, WASM)
 * and cross-check it against what the code relies on.
 */
import { readFileSync, readdirSync } from 'node:fs';
import path from 'node:path';
import { parse } from '@cdktf/hcl2json';
import { describe, expect, it } from 'vitest';

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

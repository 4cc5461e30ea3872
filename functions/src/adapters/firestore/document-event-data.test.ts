/**
 * The Firestore trigger's DocumentEventData codec against an oracle: the Firestore client's own
 * protobuf descriptors for `google.firestore.v1.Document` (the same field numbers as the
 * CloudEvent's `google.events.cloud.firestore.v1.Document`; DocumentEventData wraps it as field 1).
 */
import { createRequire } from 'node:module';
import path from 'node:path';
import { GeoPoint, Timestamp } from '@google-cloud/firestore';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { decodeDocumentEventData, encodeDocumentEventData } from './document-event-data.js';

interface ProtoDocument {
  encode(message: unknown): { finish(): Uint8Array };
  decode(bytes: Uint8Array): unknown;
  fromObject(object: unknown): unknown;
  toObject(message: unknown, options: Record<string, unknown>): Record<string, unknown>;
}
// The client's own descriptor set (not among the package's exports: loaded by path, as the client
// loads it), read with protobufjs, the runtime the client itself uses.
const require = createRequire(import.meta.url);
const protobuf = require('protobufjs') as { Root: { fromJSON(json: unknown): { lookupType(name: string): ProtoDocument } } };
const descriptors: unknown = require(path.join(path.dirname(require.resolve('@google-cloud/firestore')), '..', 'protos', 'v1.json'));
const Document = protobuf.Root.fromJSON(descriptors).lookupType('google.firestore.v1.Document');

/** DocumentEventData { value = 1 } around an encoded Document (one length-delimited field). */
function wrapAsValue(document: Uint8Array): Uint8Array {
  const length: number[] = [];
  for (let n = document.length; ; n >>>= 7) {
    if (n < 0x80) { length.push(n); break; }
    length.push((n & 0x7f) | 0x80);
  }
  return Uint8Array.from([0x0a, ...length, ...document]);
}

/** The Document inside DocumentEventData bytes whose only field is `value` (field 1). */
function unwrapValue(bytes: Uint8Array): Uint8Array {
  expect(bytes[0]).toBe(0x0a);
  let pos = 1;
  let length = 0;
  for (let shift = 0; ; shift += 7) {
    const b = bytes[pos++]!;
    length |= (b & 0x7f) << shift;
    if (b < 0x80) break;
  }
  expect(pos + length).toBe(bytes.length);
  return bytes.subarray(pos);
}

const name = 'projects/demo/databases/(default)/documents/tenants/ten_1/outbox/evt_1';

describe('DocumentEventData', () => {
  it('decodes what the Firestore protos encode: every value type an outbox document can hold', () => {
    const encoded = Document.encode(Document.fromObject({
      name,
      fields: {
        s: { stringValue: 'héllo' },
        i: { integerValue: '9007199254740993' },
        neg: { integerValue: '-42' },
        d: { doubleValue: 1.5 },
        b: { booleanValue: true },
        n: { nullValue: 'NULL_VALUE' },
        t: { timestampValue: { seconds: 1_700_000_000, nanos: 123_456_789 } },
        by: { bytesValue: Buffer.from([0, 1, 255]) },
        g: { geoPointValue: { latitude: 48.85, longitude: 2.35 } },
        a: { arrayValue: { values: [{ stringValue: 'x' }, { mapValue: { fields: { k: { integerValue: '7' } } } }] } },
        m: { mapValue: { fields: { nested: { mapValue: { fields: { amountMinor: { stringValue: '1999' } } } }, empty: { arrayValue: {} } } } },
      },
      createTime: { seconds: 1_700_000_001, nanos: 5 },
      updateTime: { seconds: 1_700_000_002, nanos: 999_999_999 },
    })).finish();
    const { value, oldValue } = decodeDocumentEventData(wrapAsValue(encoded));
    expect(oldValue).toBeUndefined();
    expect(value!.name).toBe(name);
    expect(value!.createTime).toEqual(new Timestamp(1_700_000_001, 5));
    expect(value!.updateTime).toEqual(new Timestamp(1_700_000_002, 999_999_999));
    expect(value!.fields).toEqual({
      s: 'héllo', i: 9007199254740993n, neg: -42n, d: 1.5, b: true, n: null,
      t: new Timestamp(1_700_000_000, 123_456_789), by: Buffer.from([0, 1, 255]), g: new GeoPoint(48.85, 2.35),
      a: ['x', { k: 7n }], m: { nested: { amountMinor: '1999' }, empty: [] },
    });
  });

  it('encodes what the Firestore protos decode to the same values', () => {
    const bytes = encodeDocumentEventData({
      value: {
        name, createTime: new Timestamp(1_700_000_001, 5), updateTime: new Timestamp(1_700_000_002, 0),
        fields: { s: 'x', i: -9007199254740993n, d: 0.25, b: false, n: null, t: new Timestamp(-1, 0), a: [1n, 'y'], m: { k: { deep: true } } },
      },
    });
    const object = Document.toObject(Document.decode(unwrapValue(bytes)), { longs: String, enums: String, defaults: false });
    expect(object).toEqual({
      name,
      fields: {
        s: { stringValue: 'x' }, i: { integerValue: '-9007199254740993' }, d: { doubleValue: 0.25 }, b: { booleanValue: false },
        n: { nullValue: 'NULL_VALUE' }, t: { timestampValue: { seconds: '-1' } },
        a: { arrayValue: { values: [{ integerValue: '1' }, { stringValue: 'y' }] } },
        m: { mapValue: { fields: { k: { mapValue: { fields: { deep: { booleanValue: true } } } } } } },
      },
      createTime: { seconds: '1700000001', nanos: 5 },
      updateTime: { seconds: '1700000002' },
    });
  });

  it('round-trips any value tree (property)', () => {
    const leaf = fc.oneof(
      fc.string(), fc.bigInt({ min: -(2n ** 63n), max: 2n ** 63n - 1n }), fc.double({ noNaN: true }).filter((d) => !Object.is(d, -0)),
      fc.boolean(), fc.constant(null),
      fc.record({ s: fc.integer({ min: -62_135_596_800, max: 253_402_300_799 }), n: fc.integer({ min: 0, max: 999_999_999 }) }).map(({ s, n }) => new Timestamp(s, n)),
    );
    const tree = fc.letrec((tie) => ({
      value: fc.oneof({ depthSize: 'small', withCrossShrink: true }, leaf, fc.array(tie('value'), { maxLength: 4 }), fc.dictionary(fc.string({ minLength: 1 }), tie('value'), { maxKeys: 4 })),
    })).value;
    fc.assert(fc.property(fc.dictionary(fc.string({ minLength: 1 }), tree, { maxKeys: 6 }), (fields) => {
      const decoded = decodeDocumentEventData(encodeDocumentEventData({ value: { name, fields: fields as Record<string, unknown> } }));
      expect(decoded.value!.fields).toEqual(fields);
    }), { numRuns: 200 });
  });

  it('refuses bytes that are not a message, and nesting deeper than its bound, with an error (the relay then reads the document)', () => {
    expect(() => decodeDocumentEventData(Uint8Array.from([0x0a, 0x05, 0x01]))).toThrow();
    let deep: unknown = 'leaf';
    for (let i = 0; i < 40; i++) deep = { k: deep };
    expect(() => encodeDocumentEventData({ value: { name, fields: { deep } } })).toThrow(/deeper than/);
  });
});

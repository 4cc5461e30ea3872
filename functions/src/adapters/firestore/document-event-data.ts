/**
 * The data of a Firestore trigger's CloudEvent in its `application/protobuf` content type
 * (terraform/: Eventarc's default for `google.cloud.firestore.document.v1.*`):
 * `google.events.cloud.firestore.v1.DocumentEventData`, whose `Document` and `Value` messages have
 * the field numbers of `google.firestore.v1`. Decoded for the relay (the deployed trigger carries
 * the created document, so the relay need not read it), encoded by the local trigger that stands
 * in for Eventarc (emulators/outbox-trigger.ts). Written against the wire format with
 * @bufbuild/protobuf's reader and writer: the handful of messages do not justify generating the
 * google-cloudevents protos; test/document-event-data.test.ts checks both directions against the
 * Firestore client's own generated `google.firestore.v1.Document`.
 *
 * Values map as the Firestore client maps them with `useBigInt`: integer <-> bigint, double <->
 * number, timestamp <-> Timestamp, bytes <-> Buffer, geo point <-> GeoPoint, null, boolean,
 * string, array, map; a reference is decoded to its resource name (a string) and not encoded (no
 * outbox field holds one).
 */
import { BinaryReader, BinaryWriter, WireType } from '@bufbuild/protobuf/wire';
import { GeoPoint, Timestamp, type DocumentData } from '@google-cloud/firestore';

export interface FirestoreDocument {
  /** `projects/{p}/databases/{d}/documents/{path}`. */
  name: string;
  fields: DocumentData;
  createTime?: Timestamp;
  updateTime?: Timestamp;
}

export interface DocumentEventData {
  /** The document after the change (absent for a delete). */
  value?: FirestoreDocument;
  /** The document before it (updates and deletes). */
  oldValue?: FirestoreDocument;
}

/** Firestore nests maps and arrays at most 20 deep; deeper input is refused, not recursed into. */
const depthMax = 32;

function readTimestamp(reader: BinaryReader): Timestamp {
  const end = reader.pos + reader.uint32();
  let seconds = 0;
  let nanos = 0;
  while (reader.pos < end) {
    const [no, type] = reader.tag();
    if (no === 1 && type === WireType.Varint) seconds = Number(reader.int64());
    else if (no === 2 && type === WireType.Varint) nanos = reader.int32();
    else reader.skip(type, no);
  }
  return new Timestamp(seconds, nanos);
}

function readGeoPoint(reader: BinaryReader): GeoPoint {
  const end = reader.pos + reader.uint32();
  let latitude = 0;
  let longitude = 0;
  while (reader.pos < end) {
    const [no, type] = reader.tag();
    if (no === 1 && type === WireType.Bit64) latitude = reader.double();
    else if (no === 2 && type === WireType.Bit64) longitude = reader.double();
    else reader.skip(type, no);
  }
  return new GeoPoint(latitude, longitude);
}

/** One `map<string, Value>` entry (`key = 1`, `value = 2`). */
function readMapEntry(reader: BinaryReader, depth: number): [string, unknown] {
  const end = reader.pos + reader.uint32();
  let key = '';
  let value: unknown = null;
  while (reader.pos < end) {
    const [no, type] = reader.tag();
    if (no === 1 && type === WireType.LengthDelimited) key = reader.string();
    else if (no === 2 && type === WireType.LengthDelimited) value = readValue(reader, depth + 1);
    else reader.skip(type, no);
  }
  return [key, value];
}

/** An own property whatever the key (`__proto__` included: assignment would set the prototype). */
function setField(into: DocumentData, key: string, value: unknown): void {
  Object.defineProperty(into, key, { value, enumerable: true, writable: true, configurable: true });
}

/** `MapValue` (`fields = 1`) or `Document.fields` entries until `end`. */
function readFields(reader: BinaryReader, end: number, fieldNo: number, depth: number, into: DocumentData): DocumentData {
  while (reader.pos < end) {
    const [no, type] = reader.tag();
    if (no === fieldNo && type === WireType.LengthDelimited) {
      const [key, value] = readMapEntry(reader, depth);
      setField(into, key, value);
    } else {
      reader.skip(type, no);
    }
  }
  return into;
}

function readValue(reader: BinaryReader, depth: number): unknown {
  if (depth > depthMax) throw new Error(`DocumentEventData nested deeper than ${depthMax}`);
  const end = reader.pos + reader.uint32();
  let value: unknown = null;
  while (reader.pos < end) {
    const [no, type] = reader.tag();
    switch (no) {
      case 11: reader.int32(); value = null; break;
      case 1: value = reader.bool(); break;
      case 2: value = BigInt(reader.int64()); break;
      case 3: value = reader.double(); break;
      case 10: value = readTimestamp(reader); break;
      case 17: value = reader.string(); break;
      case 18: value = Buffer.from(reader.bytes()); break;
      case 5: value = reader.string(); break;
      case 8: value = readGeoPoint(reader); break;
      case 9: {
        const arrayEnd = reader.pos + reader.uint32();
        const values: unknown[] = [];
        while (reader.pos < arrayEnd) {
          const [itemNo, itemType] = reader.tag();
          if (itemNo === 1 && itemType === WireType.LengthDelimited) values.push(readValue(reader, depth + 1));
          else reader.skip(itemType, itemNo);
        }
        value = values;
        break;
      }
      case 6: {
        const mapEnd = reader.pos + reader.uint32();
        value = readFields(reader, mapEnd, 1, depth + 1, {});
        break;
      }
      default: reader.skip(type, no);
    }
  }
  return value;
}

function readDocument(reader: BinaryReader): FirestoreDocument {
  const end = reader.pos + reader.uint32();
  const document: FirestoreDocument = { name: '', fields: {} };
  while (reader.pos < end) {
    const [no, type] = reader.tag();
    if (no === 1 && type === WireType.LengthDelimited) document.name = reader.string();
    else if (no === 2 && type === WireType.LengthDelimited) {
      const [key, value] = readMapEntry(reader, 0);
      setField(document.fields, key, value);
    } else if (no === 3 && type === WireType.LengthDelimited) document.createTime = readTimestamp(reader);
    else if (no === 4 && type === WireType.LengthDelimited) document.updateTime = readTimestamp(reader);
    else reader.skip(type, no);
  }
  return document;
}

/** Throws on bytes that are not a well-formed message. */
export function decodeDocumentEventData(bytes: Uint8Array): DocumentEventData {
  const reader = new BinaryReader(bytes);
  const data: DocumentEventData = {};
  while (reader.pos < reader.len) {
    const [no, type] = reader.tag();
    if (no === 1 && type === WireType.LengthDelimited) data.value = readDocument(reader);
    else if (no === 2 && type === WireType.LengthDelimited) data.oldValue = readDocument(reader);
    else reader.skip(type, no);
  }
  if (reader.pos !== reader.len) throw new Error('DocumentEventData: truncated message');
  return data;
}

function writeTimestamp(writer: BinaryWriter, fieldNo: number, time: Timestamp): void {
  writer.tag(fieldNo, WireType.LengthDelimited).fork();
  if (time.seconds !== 0) writer.tag(1, WireType.Varint).int64(time.seconds);
  if (time.nanoseconds !== 0) writer.tag(2, WireType.Varint).int32(time.nanoseconds);
  writer.join();
}

function writeFields(writer: BinaryWriter, fieldNo: number, fields: DocumentData, depth: number): void {
  for (const [key, value] of Object.entries(fields)) {
    if (value === undefined) continue; // as the client: an undefined field is not stored
    writer.tag(fieldNo, WireType.LengthDelimited).fork();
    writer.tag(1, WireType.LengthDelimited).string(key);
    writeValue(writer, 2, value, depth + 1);
    writer.join();
  }
}

function writeValue(writer: BinaryWriter, fieldNo: number, value: unknown, depth: number): void {
  if (depth > depthMax) throw new Error(`DocumentEventData nested deeper than ${depthMax}`);
  writer.tag(fieldNo, WireType.LengthDelimited).fork();
  if (value === null) writer.tag(11, WireType.Varint).int32(0);
  else if (typeof value === 'boolean') writer.tag(1, WireType.Varint).bool(value);
  else if (typeof value === 'bigint') writer.tag(2, WireType.Varint).int64(value);
  else if (typeof value === 'number') writer.tag(3, WireType.Bit64).double(value);
  else if (typeof value === 'string') writer.tag(17, WireType.LengthDelimited).string(value);
  else if (value instanceof Timestamp) writeTimestamp(writer, 10, value);
  else if (value instanceof Uint8Array) writer.tag(18, WireType.LengthDelimited).bytes(value);
  else if (value instanceof GeoPoint) {
    writer.tag(8, WireType.LengthDelimited).fork().tag(1, WireType.Bit64).double(value.latitude).tag(2, WireType.Bit64).double(value.longitude).join();
  } else if (Array.isArray(value)) {
    writer.tag(9, WireType.LengthDelimited).fork();
    for (const item of value) writeValue(writer, 1, item, depth + 1);
    writer.join();
  } else if (typeof value === 'object') {
    writer.tag(6, WireType.LengthDelimited).fork();
    writeFields(writer, 1, value as DocumentData, depth);
    writer.join();
  } else {
    throw new Error(`DocumentEventData: cannot encode a ${typeof value}`);
  }
  writer.join();
}

function writeDocument(writer: BinaryWriter, fieldNo: number, document: FirestoreDocument): void {
  writer.tag(fieldNo, WireType.LengthDelimited).fork();
  writer.tag(1, WireType.LengthDelimited).string(document.name);
  writeFields(writer, 2, document.fields, 0);
  if (document.createTime) writeTimestamp(writer, 3, document.createTime);
  if (document.updateTime) writeTimestamp(writer, 4, document.updateTime);
  writer.join();
}

export function encodeDocumentEventData(data: DocumentEventData): Uint8Array {
  const writer = new BinaryWriter();
  if (data.value) writeDocument(writer, 1, data.value);
  if (data.oldValue) writeDocument(writer, 2, data.oldValue);
  return writer.finish();
}

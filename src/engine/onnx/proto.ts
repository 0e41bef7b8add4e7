/**
 * Just enough of protobuf's wire format to write an ONNX ModelProto (onnx/onnx.proto, field
 * numbers below). ONNX Runtime's Node binding runs models but cannot build them, and the graphs
 * dreamflow runs are made here from the model manifests and raw weights, so the writer is ours.
 */

/** Growable byte buffer with protobuf's primitive encodings. */
class Writer {
  private buf = new Uint8Array(1024);
  private len = 0;

  private reserve(n: number): void {
    if (this.len + n <= this.buf.length) return;
    let size = this.buf.length * 2;
    while (size < this.len + n) size *= 2;
    const next = new Uint8Array(size);
    next.set(this.buf.subarray(0, this.len));
    this.buf = next;
  }

  varint(value: number | bigint): void {
    // int64 fields: negative numbers are ten bytes of two's complement.
    let v = BigInt.asUintN(64, BigInt(value));
    this.reserve(10);
    while (v >= 0x80n) {
      this.buf[this.len++] = Number(v & 0x7fn) | 0x80;
      v >>= 7n;
    }
    this.buf[this.len++] = Number(v);
  }

  tag(field: number, wireType: 0 | 1 | 2 | 5): void {
    this.varint((field << 3) | wireType);
  }

  bytes(data: Uint8Array): void {
    this.varint(data.length);
    this.reserve(data.length);
    this.buf.set(data, this.len);
    this.len += data.length;
  }

  float32(value: number): void {
    this.reserve(4);
    new DataView(this.buf.buffer, this.buf.byteOffset + this.len, 4).setFloat32(0, value, true);
    this.len += 4;
  }

  finish(): Uint8Array {
    return this.buf.subarray(0, this.len);
  }
}

/** A message under construction: fields are appended in call order. */
export class Message {
  private readonly w = new Writer();

  int(field: number, value: number | bigint): this {
    this.w.tag(field, 0);
    this.w.varint(value);
    return this;
  }

  float(field: number, value: number): this {
    this.w.tag(field, 5);
    this.w.float32(value);
    return this;
  }

  string(field: number, value: string): this {
    return this.raw(field, new TextEncoder().encode(value));
  }

  raw(field: number, data: Uint8Array): this {
    this.w.tag(field, 2);
    this.w.bytes(data);
    return this;
  }

  message(field: number, m: Message): this {
    return this.raw(field, m.bytes());
  }

  /** A packed repeated int64 field. */
  ints(field: number, values: readonly number[]): this {
    const inner = new Writer();
    for (const v of values) inner.varint(v);
    return this.raw(field, inner.finish());
  }

  /** A packed repeated float field. */
  floats(field: number, values: readonly number[]): this {
    const inner = new Writer();
    for (const v of values) inner.float32(v);
    return this.raw(field, inner.finish());
  }

  bytes(): Uint8Array {
    return this.w.finish();
  }
}

/** TensorProto.DataType values used here. */
export const DataType = { FLOAT: 1, INT64: 7 } as const;
export type DataTypeCode = (typeof DataType)[keyof typeof DataType];

/** AttributeProto.AttributeType values used here. */
const AttrType = { FLOAT: 1, INT: 2, STRING: 3, FLOATS: 6, INTS: 7 } as const;

export type AttributeValue = number | string | number[] | { float: number } | { floats: number[] };

/** An attribute: plain numbers are ints (ONNX's common case); floats are wrapped explicitly. */
export function attribute(name: string, value: AttributeValue): Message {
  const m = new Message().string(1, name);
  if (typeof value === 'number') return m.int(3, value).int(20, AttrType.INT);
  if (typeof value === 'string') return m.string(4, value).int(20, AttrType.STRING);
  if (Array.isArray(value)) return m.ints(8, value).int(20, AttrType.INTS);
  if ('float' in value) return m.float(2, value.float).int(20, AttrType.FLOAT);
  return m.floats(7, value.floats).int(20, AttrType.FLOATS);
}

/** A TensorProto with its values as little-endian raw bytes. */
export function tensor(name: string, dims: readonly number[], data: Float32Array | BigInt64Array): Message {
  const type = data instanceof Float32Array ? DataType.FLOAT : DataType.INT64;
  return new Message()
    .ints(1, dims)
    .int(2, type)
    .string(8, name)
    .raw(9, new Uint8Array(data.buffer, data.byteOffset, data.byteLength));
}

export function node(opType: string, inputs: readonly string[], outputs: readonly string[], attrs: Record<string, AttributeValue> = {}): Message {
  const m = new Message();
  for (const i of inputs) m.string(1, i);
  for (const o of outputs) m.string(2, o);
  m.string(4, opType);
  for (const [k, v] of Object.entries(attrs)) m.message(5, attribute(k, v));
  return m;
}

/** A ValueInfoProto for a tensor of fixed shape. */
export function valueInfo(name: string, type: DataTypeCode, dims: readonly number[]): Message {
  const shape = new Message();
  for (const d of dims) shape.message(1, new Message().int(1, d));
  const tensorType = new Message().int(1, type).message(2, shape);
  return new Message().string(1, name).message(2, new Message().message(1, tensorType));
}

export interface GraphParts {
  name: string;
  nodes: Message[];
  initializers: Message[];
  inputs: Message[];
  outputs: Message[];
}

/** IR version 8 with the default opset 18 (ScatterElements with reduction, Split by input). */
export const OPSET = 18;
const IR_VERSION = 8;

export function model(graph: GraphParts): Uint8Array {
  const g = new Message();
  for (const n of graph.nodes) g.message(1, n);
  g.string(2, graph.name);
  for (const t of graph.initializers) g.message(5, t);
  for (const i of graph.inputs) g.message(11, i);
  for (const o of graph.outputs) g.message(12, o);
  return new Message()
    .int(1, IR_VERSION)
    .string(2, 'dreamflow')
    .message(7, g)
    .message(8, new Message().string(1, '').int(2, OPSET))
    .bytes();
}

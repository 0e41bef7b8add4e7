import { DataType, model, node, tensor, valueInfo, type AttributeValue, type Message } from './proto.js';

/**
 * Builds one ONNX graph: named values, constants and nodes, with fresh names for every
 * intermediate. Shapes are tracked by the callers (every shape here is static: one graph per
 * tile size), so this stays a thin, typed layer over the protobuf messages.
 */
export class GraphBuilder {
  private readonly nodes: Message[] = [];
  private readonly initializers: Message[] = [];
  private readonly inputs: Message[] = [];
  private readonly outputs: Message[] = [];
  private counter = 0;
  private readonly scalars = new Map<number, string>();
  /** Nodes by op type (all in the default domain at OPSET), for the op-coverage check. */
  readonly opTypes = new Map<string, number>();
  /** The most outputs any node of each op type has (MaxPool's Indices is a second output). */
  readonly opOutputs = new Map<string, number>();

  private count(type: string, outputs: number): void {
    this.opTypes.set(type, (this.opTypes.get(type) ?? 0) + 1);
    this.opOutputs.set(type, Math.max(outputs, this.opOutputs.get(type) ?? 0));
  }

  constructor(private readonly name: string) {}

  private fresh(hint: string): string {
    return `${hint}_${this.counter++}`;
  }

  input(name: string, dims: readonly number[]): string {
    this.inputs.push(valueInfo(name, DataType.FLOAT, dims));
    return name;
  }

  /** Expose `value` under `name` as a float graph output. */
  output(name: string, value: string, dims: readonly number[]): void {
    this.op('Identity', [value], {}, name);
    this.outputs.push(valueInfo(name, DataType.FLOAT, dims));
  }

  /** A float constant (weights, masks); the array is referenced, not copied, until bytes(). */
  constant(values: Float32Array, dims: readonly number[], hint = 'const'): string {
    const name = this.fresh(hint);
    this.initializers.push(tensor(name, dims, values));
    return name;
  }

  /** A float scalar constant, shared between uses. */
  scalar(value: number): string {
    let name = this.scalars.get(value);
    if (!name) {
      name = this.fresh('scalar');
      this.initializers.push(tensor(name, [], new Float32Array([value])));
      this.scalars.set(value, name);
    }
    return name;
  }

  /** A 1-D int64 constant (shapes, axes, indices). */
  ints(values: readonly number[], hint = 'ints'): string {
    const name = this.fresh(hint);
    this.initializers.push(tensor(name, [values.length], BigInt64Array.from(values.map((v) => BigInt(v)))));
    return name;
  }

  /** Add a node with one output; returns that output's name. */
  op(type: string, inputs: readonly string[], attrs: Record<string, AttributeValue> = {}, outputName?: string): string {
    const out = outputName ?? this.fresh(type.toLowerCase());
    this.nodes.push(node(type, inputs, [out], attrs));
    this.count(type, 1);
    return out;
  }

  /** Add a node with several outputs. */
  opN(type: string, inputs: readonly string[], outputs: number, attrs: Record<string, AttributeValue> = {}): string[] {
    const names = Array.from({ length: outputs }, () => this.fresh(type.toLowerCase()));
    this.nodes.push(node(type, inputs, names, attrs));
    this.count(type, outputs);
    return names;
  }

  // Small conveniences for the elementwise ops the backward pass is made of.
  add(a: string, b: string): string {
    return this.op('Add', [a, b]);
  }
  sub(a: string, b: string): string {
    return this.op('Sub', [a, b]);
  }
  mul(a: string, b: string): string {
    return this.op('Mul', [a, b]);
  }
  div(a: string, b: string): string {
    return this.op('Div', [a, b]);
  }
  reshape(x: string, dims: readonly number[]): string {
    return this.op('Reshape', [x, this.ints(dims, 'shape')]);
  }
  /**
   * Sum of one or more values (no node for a single one), as a chain of Adds: ONNX Runtime's
   * WebGPU provider has no Sum kernel and would run it on the CPU, copying both ways.
   */
  sum(values: readonly string[]): string {
    return values.slice(1).reduce((acc, v) => this.add(acc, v), values[0]!);
  }

  bytes(): Uint8Array {
    return model({ name: this.name, nodes: this.nodes, initializers: this.initializers, inputs: this.inputs, outputs: this.outputs });
  }
}

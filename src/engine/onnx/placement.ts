import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { sessionOptions, type Feed, type OnnxDevice } from './runtime.js';

type Ort = typeof import('onnxruntime-node');

/**
 * Where ONNX Runtime ran each node of a graph: read from its own profile of one run, whose node
 * events name the execution provider that ran them. A provider without a kernel for a node
 * silently hands it to the CPU provider, with copies both ways; this makes that visible
 * (`dreamflow devices`, the WebGPU tests; docs/architecture.md, "Engines").
 */
export interface NodePlacement {
  /** Nodes run, by provider, then by op type. */
  providers: Record<string, Record<string, number>>;
  /** Op types (with counts) that ran on the CPU provider although another was asked for. */
  fellBack: Record<string, number>;
  /** Nodes run in all (after ONNX Runtime's fusions). */
  nodes: number;
}

interface ProfileEvent {
  cat?: string;
  name?: string;
  args?: { op_name?: string; provider?: string };
}

/** Pure: the placement of the node events of one profiled run. */
export function placementOf(events: readonly ProfileEvent[], device: OnnxDevice): NodePlacement {
  const providers: Record<string, Record<string, number>> = {};
  const fellBack: Record<string, number> = {};
  let nodes = 0;
  for (const e of events) {
    if (e.cat !== 'Node' || !e.name?.endsWith('_kernel_time') || !e.args?.provider || !e.args.op_name) continue;
    const { provider, op_name: op } = e.args;
    const ops = (providers[provider] ??= {});
    ops[op] = (ops[op] ?? 0) + 1;
    nodes++;
    if (device !== 'cpu' && provider === 'CPUExecutionProvider') fellBack[op] = (fellBack[op] ?? 0) + 1;
  }
  return { providers, fellBack, nodes };
}

/** Run `model` once on `device` with profiling on, and say where its nodes ran. */
export async function nodePlacement(ort: Ort, device: OnnxDevice, model: Uint8Array, feeds: Record<string, Feed>, threads = 1): Promise<NodePlacement> {
  const dir = mkdtempSync(join(tmpdir(), 'dreamflow-profile-'));
  try {
    const session = await ort.InferenceSession.create(model, { ...sessionOptions(device, threads), enableProfiling: true, profileFilePrefix: join(dir, 'run') });
    try {
      const inputs: Record<string, import('onnxruntime-node').Tensor> = {};
      for (const [name, f] of Object.entries(feeds)) inputs[name] = new ort.Tensor('float32', f.data, f.dims);
      const results = await session.run(inputs);
      for (const t of Object.values(results)) t.dispose();
      session.endProfiling();
    } finally {
      await session.release();
    }
    const file = readdirSync(dir).find((f) => f.endsWith('.json'));
    if (!file) throw new Error('ONNX Runtime wrote no profile');
    return placementOf(JSON.parse(readFileSync(join(dir, file), 'utf8')) as ProfileEvent[], device);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

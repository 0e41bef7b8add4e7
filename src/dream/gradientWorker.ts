/**
 * Worker-thread side of the PooledRunner: its own engine (tfjs backend or ONNX Runtime sessions)
 * and copy of the network, answering gradient / value / feature requests for tiles. Messages
 * carry an `id` echoed in the reply.
 */
import { parentPort } from 'node:worker_threads';
import { UserError } from '../errors.js';
import type { TileJob } from './gradient.js';
import type { RgbImage } from './image.js';
import type { Objective } from './objectives.js';
import { loadEngine, type EngineOptions, type TileEngine } from './tileEngine.js';

type Request =
  | { id: number; op: 'init'; engine: EngineOptions }
  | { id: number; op: 'objective'; key: number; objective: Objective }
  | { id: number; op: 'gradient'; key: number; job: TileJob }
  | { id: number; op: 'value'; key: number; job: TileJob }
  | { id: number; op: 'features'; image: RgbImage; layer: string }
  | { id: number; op: 'forget'; key: number }
  | { id: number; op: 'held' }
  | { id: number; op: 'close' };

let engine: TileEngine | undefined;
const objectives = new Map<number, Objective>();

function objectiveFor(key: number): Objective {
  const o = objectives.get(key);
  if (!o) throw new Error(`unknown objective ${key}`);
  return o;
}

async function handle(msg: Request): Promise<{ result: unknown; transfer?: ArrayBuffer[] }> {
  if (msg.op === 'init') {
    engine = await loadEngine(msg.engine);
    return { result: msg.engine.backend };
  }
  if (msg.op === 'objective') {
    objectives.set(msg.key, msg.objective);
    return { result: true };
  }
  if (msg.op === 'close') {
    // Sessions released here, on this thread, before the pool ends it (see WorkerPool.close).
    await engine?.close();
    engine = undefined;
    objectives.clear();
    return { result: true };
  }
  if (!engine) throw new Error('worker used before init');
  if (msg.op === 'forget') {
    objectives.delete(msg.key);
    await engine.forget(String(msg.key));
    return { result: true };
  }
  if (msg.op === 'held') {
    const h = await engine.held();
    return { result: { objectives: objectives.size, graphs: h.graphs } };
  }
  switch (msg.op) {
    case 'gradient': {
      const g = await engine.gradient(msg.job, objectiveFor(msg.key), String(msg.key));
      return { result: g, transfer: [g.grad.buffer as ArrayBuffer] };
    }
    case 'value':
      return { result: await engine.value(msg.job, objectiveFor(msg.key), String(msg.key)) };
    case 'features': {
      const f = await engine.features(msg.image, msg.layer);
      return { result: f, transfer: [f.features.buffer as ArrayBuffer] };
    }
  }
}

parentPort!.on('message', (msg: Request) => {
  handle(msg).then(
    ({ result, transfer }) => parentPort!.postMessage({ id: msg.id, ok: true, result }, transfer ?? []),
    (err: Error) => parentPort!.postMessage({ id: msg.id, ok: false, error: err.message, userError: err instanceof UserError }),
  );
});

/**
 * Worker-thread side of the PooledRunner: its own tfjs backend and copy of the network, answering
 * gradient / value / feature requests for tiles. Messages carry an `id` echoed in the reply.
 */
import { parentPort } from 'node:worker_threads';
import { initBackend, type BackendName } from '../engine/backend.js';
import type { GradientMode } from '../engine/conv.js';
import { UserError } from '../errors.js';
import { loadManifest } from '../models/manifest.js';
import { Network } from '../models/network.js';
import { layerFeatures, tileGradient, tileValue, type TileJob } from './gradient.js';
import type { RgbImage } from './image.js';
import type { Objective } from './objectives.js';

type Request =
  | { id: number; op: 'init'; model: string; dir: string; backend: BackendName; gradientMode: GradientMode }
  | { id: number; op: 'objective'; key: number; objective: Objective }
  | { id: number; op: 'gradient'; key: number; job: TileJob }
  | { id: number; op: 'value'; key: number; job: TileJob }
  | { id: number; op: 'features'; image: RgbImage; layer: string };

let net: Network | undefined;
const objectives = new Map<number, Objective>();

function objectiveFor(key: number): Objective {
  const o = objectives.get(key);
  if (!o) throw new Error(`unknown objective ${key}`);
  return o;
}

async function handle(msg: Request): Promise<{ result: unknown; transfer?: ArrayBuffer[] }> {
  if (msg.op === 'init') {
    await initBackend(msg.backend);
    net = await Network.load(loadManifest(msg.model), msg.dir, msg.gradientMode);
    return { result: msg.backend };
  }
  if (msg.op === 'objective') {
    objectives.set(msg.key, msg.objective);
    return { result: true };
  }
  if (!net) throw new Error('worker used before init');
  switch (msg.op) {
    case 'gradient': {
      const g = tileGradient(net, msg.job, objectiveFor(msg.key));
      return { result: g, transfer: [g.grad.buffer as ArrayBuffer] };
    }
    case 'value':
      return { result: tileValue(net, msg.job, objectiveFor(msg.key)) };
    case 'features': {
      const f = layerFeatures(net, msg.image, msg.layer);
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

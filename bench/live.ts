/**
 * Live benchmark: delivered frames per second and capture-to-viewer latency (p50/p95) at
 * 320×180 for 1 and 10 WebSocket viewers, with the default live settings (model default layer,
 * adaptive controller holding the default 10 fps), a synthetic lavfi source and real sockets.
 */
import WebSocket from 'ws';
import { createRunner } from '../src/dream/runner.js';
import { startLive } from '../src/pipeline/liveSession.js';
import { decodeFrameMessage } from '../src/server/protocol.js';
import { round, writeResult } from './util.js';

const SIZE = { width: 320, height: 180 };
const FPS = 10;
/** The controller settles (and the first, full dream passes) before measuring. */
const WARMUP_S = Number(process.env.BENCH_LIVE_WARMUP ?? 10);
const MEASURE_S = Number(process.env.BENCH_LIVE_SECONDS ?? 20);

function percentile(values: number[], p: number): number {
  if (values.length === 0) return NaN;
  const s = [...values].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.max(0, Math.ceil((p / 100) * s.length) - 1))]!;
}

interface Arrival {
  at: number;
  latencyMs: number;
}

function connect(url: string): Promise<{ ws: WebSocket; arrivals: Arrival[] }> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(url.replace(/^http/, 'ws') + 'ws');
    const arrivals: Arrival[] = [];
    ws.on('message', (data, isBinary) => {
      if (!isBinary) return;
      const now = Date.now();
      const m = decodeFrameMessage(data as Buffer);
      if (m) arrivals.push({ at: now, latencyMs: now - m.header.capturedAt });
    });
    ws.once('open', () => resolve({ ws, arrivals }));
    ws.once('error', reject);
  });
}

async function runCase(viewers: number, runner: Awaited<ReturnType<typeof createRunner>>): Promise<Record<string, unknown>> {
  const session = await startLive({ input: 'lavfi:testsrc2', size: SIZE, fps: FPS, port: 0, runner, onWarning: (m) => process.stderr.write(`bench live: ${m}\n`) });
  try {
    const clients = await Promise.all(Array.from({ length: viewers }, () => connect(session.url)));
    await new Promise((r) => setTimeout(r, WARMUP_S * 1000));
    const from = Date.now();
    const before = session.scheduler.stats();
    await new Promise((r) => setTimeout(r, MEASURE_S * 1000));
    const to = Date.now();
    const after = session.scheduler.stats();
    const perViewerFps = clients.map((c) => c.arrivals.filter((a) => a.at >= from && a.at < to).length / ((to - from) / 1000));
    const latencies = clients.flatMap((c) => c.arrivals.filter((a) => a.at >= from && a.at < to).map((a) => a.latencyMs));
    for (const c of clients) c.ws.close();
    return {
      viewers,
      seconds: round((to - from) / 1000, 1),
      deliveredFps: round(perViewerFps.reduce((a, b) => a + b, 0) / viewers, 2),
      minViewerFps: round(Math.min(...perViewerFps), 2),
      latencyMs: { p50: round(percentile(latencies, 50), 0), p95: round(percentile(latencies, 95), 0), max: round(Math.max(...latencies), 0) },
      dreamedFrames: after.frames - before.frames,
      droppedInputFrames: after.drops - before.drops,
      dreamMs: round(after.dreamMs, 0),
      level: after.level,
      gain: after.gain.source === undefined ? null : round(after.gain.source),
      viewerSkips: session.server.stats().skipped,
    };
  } finally {
    await session.close();
  }
}

export async function benchLive(): Promise<Record<string, unknown>> {
  const cases = [];
  let model = '';
  let layerName = '';
  // The default engine and the previous one (tfjs on wasm), in the same run.
  for (const backend of ['onnx', 'wasm'] as const) {
    const runner = await createRunner({ backend, quiet: true });
    model = runner.manifest.name;
    layerName = runner.manifest.defaultLayer;
    try {
      for (const viewers of [1, 10]) {
        process.stderr.write(`bench live: ${runner.backend}, ${viewers} viewer(s), ${WARMUP_S} s warm-up + ${MEASURE_S} s…\n`);
        cases.push({ backend: runner.backend, ...(await runCase(viewers, runner)) });
      }
    } finally {
      await runner.close();
    }
  }
  const result = {
    task: `dreamflow live, lavfi:testsrc2 at ${SIZE.width}x${SIZE.height}, target ${FPS} fps, default live settings (adaptive)`,
    model,
    layer: layerName,
    target: { fps: 5, p95LatencyMs: 1000 },
    cases,
  };
  writeResult('live', result);
  return result;
}

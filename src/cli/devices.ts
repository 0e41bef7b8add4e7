import { availableParallelism } from 'node:os';
import { ENGINE_DEVICES } from '../engine/backend.js';
import { loadOrt, ONNX_DEVICES, type OnnxDevice } from '../engine/onnx/runtime.js';
import { UserError } from '../errors.js';
import { surveyDevices, type DeviceReport } from '../pipeline/devices.js';
import { parse, str } from './options.js';

export const DEVICES_HELP = `dreamflow devices [--sizes WxH,...] [--model NAME] [--device cpu|cuda|webgpu] [--json]

What each ONNX Runtime execution provider can do here: whether it loads (one line saying what is
missing when not), the adapters it may use (GPU or software), where the nodes of a dream step's
graph run (a node its provider lacks falls back to the CPU, with copies both ways), and one timed
dream step per size, first (session and shaders built) and steady, next to the CPU's.

  --sizes WxH,...   dream step sizes (default 224x224,640x360)
  --model NAME      bvlc_googlenet or squeezenet (default bvlc_googlenet)
  --device NAME     survey only this provider (and cpu, for comparison)
  --weights DIR     folder holding the model weights
  --json            one JSON line with every report`;

function parseSizes(raw: string): Array<[number, number]> {
  return raw.split(',').map((s) => {
    const m = /^(\d+)x(\d+)$/.exec(s.trim());
    const size = m ? ([Number(m[1]), Number(m[2])] as [number, number]) : null;
    if (!size || size.some((n) => n < 32 || n > 4096)) throw new UserError(`--sizes: expected WxH sizes from 32 to 4096, comma separated, got "${s}"`);
    return size;
  });
}

const seconds = (s: number): string => (s < 10 ? s.toFixed(3) : s.toFixed(1));

/** Human lines for one provider (pure). */
export function describeDevice(report: DeviceReport, cpu: DeviceReport | undefined): string[] {
  const name = report.device.padEnd(7);
  if (report.missing) return [`${name}missing: ${report.missing.replace(/^--device \w+ is not available: /, '')}`, ...report.notes.map((n) => `       note: ${n}`)];
  const lines = [`${name}loads`];
  for (const a of report.adapters) lines.push(`       adapter: ${a.name}, ${a.software === null ? 'software or hardware unknown' : a.software ? 'software' : 'hardware'} (${a.source})`);
  if (report.device === 'webgpu' && report.adapters.length > 0) lines.push('       (ONNX Runtime does not say which adapter it opened; Dawn prefers a hardware one)');
  const p = report.placement;
  if (p) {
    const where = Object.entries(p.providers)
      .map(([provider, ops]) => `${Object.values(ops).reduce((a, b) => a + b, 0)} on ${provider}`)
      .join(', ');
    const fell = Object.entries(p.fellBack);
    lines.push(`       graph: ${p.nodes} nodes, ${where}${fell.length ? `; fell back to the CPU: ${fell.map(([op, n]) => `${op} x${n}`).join(', ')}` : ''}`);
  }
  for (const s of report.steps) {
    const base = report.device === 'cpu' ? undefined : cpu?.steps.find((c) => c.width === s.width && c.height === s.height);
    const speed = base ? base.seconds / s.seconds : 0;
    const ratio = base ? ` (cpu ${seconds(base.seconds)} s: ${speed >= 1 ? `${speed.toFixed(1)}x faster` : `${(1 / speed).toFixed(1)}x slower`})` : '';
    lines.push(`       dream step ${s.width}x${s.height}: ${seconds(s.seconds)} s${ratio}, first ${seconds(s.firstSeconds)} s`);
  }
  for (const n of report.notes) lines.push(`       note: ${n}`);
  return lines;
}

export async function devicesCommand(args: string[]): Promise<void> {
  const { values } = parse(args, { sizes: { type: 'string' }, model: { type: 'string' }, device: { type: 'string' }, weights: { type: 'string' }, json: { type: 'boolean' } }, 0);
  if (values.help) {
    console.log(DEVICES_HELP);
    return;
  }
  const only = str(values, 'device');
  if (only !== undefined && !ENGINE_DEVICES.includes(only as OnnxDevice)) throw new UserError(`--device must be one of ${ENGINE_DEVICES.join(', ')} (got "${only}")`);
  const devices: OnnxDevice[] = only === undefined ? [...ENGINE_DEVICES] : only === 'cpu' ? ['cpu'] : ['cpu', only as OnnxDevice];
  const json = values.json === true;
  const sizes = parseSizes(str(values, 'sizes') ?? '224x224,640x360');
  const ort = loadOrt();
  if (ort && !json) {
    const backends = ort.listSupportedBackends().filter((b) => ONNX_DEVICES.includes(b.name as OnnxDevice));
    console.log(`ONNX Runtime ${ort.env.versions.node ?? ort.env.versions.common} (onnxruntime-node): ${backends.map((b) => `${b.name}${b.bundled ? '' : ' (installed separately)'}`).join(', ')}`);
  }
  let cpu: DeviceReport | undefined;
  const reports = await surveyDevices({
    model: str(values, 'model'),
    sizes,
    threads: availableParallelism(),
    devices,
    weightsDir: str(values, 'weights'),
    onReport: (r) => {
      if (r.device === 'cpu') cpu = r;
      if (!json) console.log(describeDevice(r, cpu).join('\n'));
    },
  });
  if (json) console.log(JSON.stringify({ devices: reports }));
}

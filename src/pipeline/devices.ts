import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { createImage } from '../dream/image.js';
import { layer } from '../dream/objectives.js';
import { OnnxNetwork } from '../dream/onnxGradient.js';
import { seededRandom } from '../dream/random.js';
import { nodePlacement, type NodePlacement } from '../engine/onnx/placement.js';
import { ENGINE_DEVICES } from '../engine/backend.js';
import { loadOrt, type OnnxDevice } from '../engine/onnx/runtime.js';
import { findSoftwareVulkan, vulkanDrivers } from '../engine/onnx/vulkan.js';
import { UserError } from '../errors.js';
import { loadManifest } from '../models/manifest.js';
import { locateWeights } from '../models/weights.js';

/**
 * What each ONNX Runtime execution provider can do on this machine (`dreamflow devices`): whether
 * it loads, the adapters it may use, where the nodes of a dream step's graph run, and one timed
 * dream step per size next to the CPU's. docs/architecture.md, "Engines".
 */

export interface Adapter {
  name: string;
  /** A CPU rasteriser or emulation rather than a GPU; null when unknown. */
  software: boolean | null;
  /** How it was found (ONNX Runtime's Node binding does not name the adapter it opens). */
  source: string;
}

export interface StepTiming {
  width: number;
  height: number;
  /** The first step, building the session (and compiling a GPU's shaders) included. */
  firstSeconds: number;
  /** A step once the session exists: what a video pays per step. */
  seconds: number;
}

export interface DeviceReport {
  device: OnnxDevice;
  /** null when it loads; else one line saying what is missing. */
  missing: string | null;
  adapters: Adapter[];
  /** Where the nodes of the first size's gradient graph ran. */
  placement: NodePlacement | null;
  steps: StepTiming[];
  /** Hints for this device (a software adapter that could be used for testing). */
  notes: string[];
}

export interface DeviceSurveyOptions {
  model?: string | undefined;
  sizes: Array<[number, number]>;
  threads: number;
  devices?: readonly OnnxDevice[] | undefined;
  weightsDir?: string | undefined;
  /** Called with each device's report as it is finished. */
  onReport?: ((report: DeviceReport) => void) | undefined;
}

function firstLine(err: unknown): string {
  return String(err instanceof Error ? err.message : err).split('\n')[0]!;
}

/** GPUs the NVIDIA driver reports (nvidia-smi), for the CUDA provider. */
function nvidiaAdapters(): Adapter[] {
  if (!existsSync('/proc/driver/nvidia') && !existsSync('/dev/nvidiactl')) return [];
  const r = spawnSync('nvidia-smi', ['--query-gpu=name,memory.total', '--format=csv,noheader'], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'], timeout: 10_000 });
  if (r.status !== 0 || typeof r.stdout !== 'string') return [{ name: 'NVIDIA driver present (nvidia-smi did not answer)', software: false, source: '/proc/driver/nvidia' }];
  return r.stdout
    .split('\n')
    .filter((l) => l.trim() !== '')
    .map((l) => ({ name: l.trim(), software: false, source: 'nvidia-smi' }));
}

function adaptersOf(device: OnnxDevice): Adapter[] {
  if (device === 'cpu') return [];
  if (device === 'cuda') return nvidiaAdapters();
  const named = process.env['VK_ICD_FILENAMES'] ?? process.env['VK_DRIVER_FILES'];
  return vulkanDrivers().map((d) => ({ name: d.name, software: d.software, source: `Vulkan ICD ${d.icd}${named ? ' (VK_ICD_FILENAMES)' : ''}` }));
}

/** Deterministic mid-grey noise: a picture that makes every layer fire, needing no file. */
function testPicture(width: number, height: number): ReturnType<typeof createImage> {
  const random = seededRandom(7);
  const data = new Float32Array(width * height * 3);
  for (let i = 0; i < data.length; i++) data[i] = 96 + random() * 64;
  return createImage(width, height, data);
}

/** Survey every provider in turn; a provider that fails gives its one line and the rest go on. */
export async function surveyDevices(opts: DeviceSurveyOptions): Promise<DeviceReport[]> {
  const ort = loadOrt();
  if (!ort) throw new UserError('onnxruntime-node did not load: reinstall dependencies (npm ci); the tfjs backends (--backend wasm) need no device');
  const manifest = loadManifest(opts.model);
  const dir = await locateWeights(manifest, { download: false, weightsDir: opts.weightsDir });
  const objective = layer(manifest.defaultLayer);
  const reports: DeviceReport[] = [];
  for (const device of opts.devices ?? ENGINE_DEVICES) {
    const report: DeviceReport = { device, missing: null, adapters: adaptersOf(device), placement: null, steps: [], notes: [] };
    let net: OnnxNetwork | undefined;
    try {
      net = await OnnxNetwork.load(ort, manifest, dir, { device, threads: opts.threads });
      for (const [i, [width, height]] of opts.sizes.entries()) {
        const image = testPicture(width, height);
        let started = performance.now();
        await net.gradient({ image, weight: 1 }, objective, 'devices');
        const firstSeconds = (performance.now() - started) / 1000;
        started = performance.now();
        await net.gradient({ image, weight: 1 }, objective, 'devices');
        report.steps.push({ width, height, firstSeconds, seconds: (performance.now() - started) / 1000 });
        if (i === 0) {
          const graph = net.graph('gradient', width, height, objective);
          report.placement = await nodePlacement(ort, device, graph.bytes(), { image: { data: image.data, dims: [1, height, width, 3] } }, opts.threads);
        }
      }
    } catch (err) {
      report.missing = err instanceof UserError ? err.message : `${device} failed: ${firstLine(err)}`;
    } finally {
      await net?.close();
    }
    if (device === 'webgpu') {
      const software = findSoftwareVulkan();
      if (report.missing && software && !process.env['VK_ICD_FILENAMES']) {
        report.notes.push(`a software adapter is installed (SwiftShader, slower than the CPU; for testing): VK_ICD_FILENAMES=${software.icd} LD_LIBRARY_PATH=${software.libraryDir} dreamflow devices`);
      }
      if (!report.missing && report.adapters.length > 0 && report.adapters.every((a) => a.software === true)) {
        report.notes.push('every Vulkan adapter here is a software one: WebGPU runs on the CPU, slower than --device cpu');
      }
    }
    reports.push(report);
    opts.onReport?.(report);
  }
  return reports;
}

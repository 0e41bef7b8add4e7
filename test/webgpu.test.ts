import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { makeClip } from '../bench/fixtures/clips.js';
import { findSoftwareVulkan, softwareVulkanEnv } from '../src/engine/onnx/vulkan.js';
import { lastJson, runCli } from './helpers/cli.js';
import { ROOT, SHARED_IMAGES, tempDir } from './helpers/paths.js';

/**
 * ONNX Runtime's WebGPU provider on SwiftShader, the software Vulkan adapter Debian's Chromium
 * ships (chromium-common; `npm test` installs it through scripts/test-deps.mjs). The Vulkan
 * loader reads its library path when a process starts, so everything WebGPU runs in child
 * processes started with VK_ICD_FILENAMES and LD_LIBRARY_PATH pointing at it. The adapter is
 * slow (a CPU rasteriser): small pictures, few steps. docs/architecture.md, "Engines".
 */

const software = findSoftwareVulkan();
const MISSING =
  'SwiftShader was not found (vk_swiftshader_icd.json, libvk_swiftshader.so and libvulkan.so.1 in /usr/lib/chromium, or listed by dpkg -L chromium-common): install chromium (npm test does it with scripts/test-deps.mjs), then rerun';

/** The environment of a child process that sees SwiftShader as its only Vulkan adapter. */
function webgpuEnv(): Record<string, string> {
  if (!software) throw new Error(MISSING);
  return softwareVulkanEnv(software);
}

interface GradientReport {
  results: Array<{ model: string; kind: string; width: number; height: number; gradError: number; valueError: number; forwardValueError: number; gradNorm: number }>;
  placements: Array<{ model: string; providers: Record<string, Record<string, number>>; fellBack: Record<string, number>; nodes: number }>;
  sessions: { objectives: number; graphs: number; deviceTile: number | undefined; octaves: number; iterations: number };
}

function runHelper(script: string, args: string[], env: Record<string, string>): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [script, ...args], { env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    const timer = setTimeout(() => child.kill('SIGKILL'), 170_000);
    child.on('error', reject);
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
  });
}

describe('WebGPU on the software adapter (SwiftShader)', () => {
  it('finds the adapter Chromium ships', () => {
    expect(software, MISSING).not.toBeNull();
    expect(software!.icd).toMatch(/vk_swiftshader_icd\.json$/);
  });

  describe('gradients', () => {
    let report: GradientReport;
    beforeAll(async () => {
      const run = await runHelper(join(ROOT, 'test', 'helpers', 'webgpuGradients.mjs'), [SHARED_IMAGES], webgpuEnv());
      if (run.code !== 0) throw new Error(`webgpuGradients.mjs exited ${run.code}: ${run.stderr.trim().split('\n').slice(-3).join(' | ')}`);
      report = JSON.parse(run.stdout.trim().split('\n').pop()!) as GradientReport;
    }, 170_000);

    it("equal the CPU provider's for every objective kind (relative error within 1e-3)", () => {
      const kinds = new Set(report.results.map((r) => r.kind));
      expect([...kinds].sort()).toEqual(['channel', 'class logit', 'class probability', 'guide', 'layers with weights', 'neuron']);
      expect(new Set(report.results.map((r) => r.model))).toEqual(new Set(['squeezenet', 'bvlc_googlenet']));
      for (const r of report.results) {
        const name = `${r.model} ${r.kind} ${r.width}x${r.height}`;
        expect(r.gradNorm, name).toBeGreaterThan(0);
        expect(r.gradError, name).toBeLessThanOrEqual(1e-3);
        expect(r.valueError, name).toBeLessThanOrEqual(1e-3);
        expect(r.forwardValueError, name).toBeLessThanOrEqual(1e-3);
      }
    });

    it('take whole frames and build one session per octave size, none per step', () => {
      const { graphs, deviceTile, octaves } = report.sessions;
      expect(deviceTile).toBeGreaterThan(512);
      expect(graphs).toBe(octaves);
    });

    it('run every node of the gradient graph on the adapter, none fallen back to the CPU', () => {
      for (const p of report.placements) {
        expect(p.fellBack, p.model).toEqual({});
        const onGpu = p.providers['WebGpuExecutionProvider'] ?? {};
        for (const op of ['Conv', 'ConvTranspose', 'MaxPool']) expect(onGpu[op] ?? 0, `${p.model} ${op}`).toBeGreaterThan(0);
        expect(Object.values(onGpu).reduce((a, b) => a + b, 0)).toBe(p.nodes);
      }
    });
  });

  it("dreams a picture with --device webgpu, its dream gain within 10% of the CPU's", async () => {
    const env = webgpuEnv();
    const dir = await tempDir();
    const args = (device: string): string[] => [
      'image', join(SHARED_IMAGES, 'kite.jpg'), '--size', '128', '--octaves', '1', '--iterations', '2', '--seed', '3', '--device', device, '--json', '-o', join(dir, `${device}.jpg`),
    ];
    const gpu = await runCli(args('webgpu'), { env });
    expect(gpu.stderr).toBe('');
    expect(gpu.code).toBe(0);
    const cpu = await runCli(args('cpu'));
    expect(cpu.code).toBe(0);
    const gain = (s: string): number => lastJson<{ dreamGain: number }>(s).dreamGain;
    expect(gain(gpu.stdout)).toBeGreaterThan(1);
    expect(Math.abs(gain(gpu.stdout) / gain(cpu.stdout) - 1)).toBeLessThanOrEqual(0.1);
  });

  it('dreams three frames of a video with --device webgpu', async () => {
    const env = webgpuEnv();
    const dir = await tempDir();
    const clip = await makeClip({ width: 96, height: 64, fps: 10, seconds: 0.3, dir });
    const args = (device: string): string[] => [
      'video', clip, '-o', join(dir, `${device}.mp4`), '--model', 'squeezenet', '--octaves', '1', '--iterations', '1', '--frame-iterations', '1', '--device', device, '--json', '--quiet',
    ];
    const gpu = await runCli(args('webgpu'), { env });
    expect(gpu.stderr).toBe('');
    expect(gpu.code).toBe(0);
    const result = lastJson<{ frames: number; dreamGain: number }>(gpu.stdout);
    expect(result.frames).toBe(3);
    const cpu = lastJson<{ dreamGain: number }>((await runCli(args('cpu'))).stdout);
    expect(Math.abs(result.dreamGain / cpu.dreamGain - 1)).toBeLessThanOrEqual(0.1);
  });

  it('dreamflow devices: the adapter, every node on it, a timed step, and one line for what is missing', async () => {
    const args = ['devices', '--sizes', '64x48', '--model', 'squeezenet', '--json'];
    const withAdapter = await runCli(args, { env: webgpuEnv() });
    expect(withAdapter.code).toBe(0);
    const reports = lastJson<{ devices: Array<{ device: string; missing: string | null; adapters: Array<{ name: string; software: boolean }>; placement: { fellBack: Record<string, number>; nodes: number } | null; steps: Array<{ seconds: number }> }> }>(withAdapter.stdout).devices;
    expect(reports.map((r) => r.device)).toEqual(['cpu', 'cuda', 'webgpu']);
    const [cpu, cuda, webgpu] = reports as [(typeof reports)[0], (typeof reports)[0], (typeof reports)[0]];
    expect(cpu.missing).toBeNull();
    expect(webgpu.missing).toBeNull();
    expect(webgpu.adapters).toEqual([expect.objectContaining({ name: 'SwiftShader (Google)', software: true })]);
    expect(webgpu.placement!.fellBack).toEqual({});
    expect(webgpu.placement!.nodes).toBeGreaterThan(100);
    expect(webgpu.steps[0]!.seconds).toBeGreaterThan(0);
    // No CUDA library here (the test machines have no NVIDIA GPU): one line naming what to install.
    if (cuda.missing !== null) expect(cuda.missing).not.toMatch(/\n/);

    // Without the variables Dawn finds no Vulkan loader: one line, and where the software adapter is.
    const plain = await runCli(['devices', '--sizes', '64x48', '--model', 'squeezenet', '--device', 'webgpu'], { env: { VK_ICD_FILENAMES: '', LD_LIBRARY_PATH: '' } });
    expect(plain.code).toBe(0);
    expect(plain.stdout).toMatch(/^webgpu +missing: .*Vulkan/m);
    expect(plain.stdout).toContain(`VK_ICD_FILENAMES=${software!.icd}`);
  });
});

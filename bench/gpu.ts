/**
 * `npm run bench -- gpu`: the same dream steps (GoogLeNet gradient at 224x224 and 640x360) and a
 * 640x360 video with the default preset on every ONNX Runtime device that loads here: cpu, webgpu
 * (a hardware adapter, else SwiftShader, the software one Chromium ships) and cuda. Each device
 * runs in a child process (`dreamflow devices`, `dreamflow video`), because the Vulkan loader
 * reads its variables only when a process starts. Writes bench/results/gpu.json.
 * GPU_BENCH_FRAMES sets the video's length (default 3 frames); a software adapter runs only
 * 224x224 steps and GPU_BENCH_SOFTWARE_FRAMES frames (default 1) of the light preset: it takes
 * minutes per 640x360 step.
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { findSoftwareVulkan, softwareVulkanEnv } from '../src/engine/onnx/vulkan.js';
import { packageRoot } from '../src/paths.js';
import type { DeviceReport } from '../src/pipeline/devices.js';
import { makeClip } from './fixtures/clips.js';
import { round, writeResult } from './util.js';

const DEVICES = ['cpu', 'webgpu', 'cuda'] as const;

/** Frames of the light video on a software adapter (GPU_BENCH_SOFTWARE_FRAMES, default 1). */
const SOFTWARE_FRAMES = Number(process.env['GPU_BENCH_SOFTWARE_FRAMES'] ?? 1);

/** The video presets: the video command's defaults, and a light one a software adapter can run. */
const VIDEO_PRESETS: Record<string, string[]> = {
  default: [],
  light: ['--octaves', '1', '--iterations', '1', '--frame-iterations', '1'],
};

function cli(args: string[], env: Record<string, string> = {}): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [join(packageRoot(), 'bin', 'dreamflow.js'), ...args], { env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, stdout, stderr }));
  });
}

const lastLine = (s: string): string => s.trim().split('\n').pop() ?? '';

export async function benchGpu(): Promise<Record<string, unknown>> {
  const frames = Number(process.env['GPU_BENCH_FRAMES'] ?? 3);
  const work = mkdtempSync(join(tmpdir(), 'dreamflow-bench-gpu-'));
  try {
    const fps = 12;
    const clip = await makeClip({ width: 640, height: 360, fps, seconds: frames / fps, dir: work });
    const results: Array<Record<string, unknown>> = [];
    for (const device of DEVICES) {
      // This machine's own adapters first; for webgpu without one, the software adapter.
      let env: Record<string, string> = {};
      let adapterNote = 'as found';
      let survey = await cli(['devices', '--device', device, '--json'], env);
      let report = (JSON.parse(lastLine(survey.stdout)) as { devices: DeviceReport[] }).devices.find((r) => r.device === device)!;
      const software = findSoftwareVulkan();
      if (device === 'webgpu' && report.missing && software && !process.env['VK_ICD_FILENAMES']) {
        env = softwareVulkanEnv(software);
        adapterNote = `SwiftShader software adapter (${software.icd}), no hardware adapter here`;
        // A software adapter takes minutes per 640x360 step (measured 258 s): 224x224 only.
        survey = await cli(['devices', '--device', device, '--json', '--sizes', '224x224'], env);
        report = (JSON.parse(lastLine(survey.stdout)) as { devices: DeviceReport[] }).devices.find((r) => r.device === device)!;
      }
      if (report.missing) {
        results.push({ device, missing: report.missing });
        process.stderr.write(`bench gpu: ${device}: missing (${report.missing})\n`);
        continue;
      }
      // The default preset (4 octaves x 10 steps on the first frame) takes a software adapter
      // about an hour at 640x360, so there only the light preset runs; every device runs it too,
      // like for like.
      const softwareOnly = report.adapters.length > 0 && report.adapters.every((a) => a.software === true);
      const videos: Record<string, unknown> = {};
      for (const [preset, flags] of Object.entries(VIDEO_PRESETS)) {
        if (preset === 'default' && softwareOnly) {
          videos[preset] = { skipped: 'software adapter: too slow for the default preset' };
          continue;
        }
        const length = softwareOnly ? ['--duration', String(SOFTWARE_FRAMES / fps)] : [];
        const video = await cli(['video', clip, '-o', join(work, `${device}-${preset}.mp4`), ...flags, ...length, '--device', device, '--json', '--quiet', '-y'], env);
        const v = video.code === 0 ? (JSON.parse(lastLine(video.stdout)) as { frames: number; seconds: number; secondsPerFrame: number; dreamGain: number }) : undefined;
        videos[preset] = v ? { frames: v.frames, seconds: round(v.seconds, 2), secondsPerFrame: round(v.secondsPerFrame), dreamGain: v.dreamGain } : { failed: lastLine(video.stderr) };
      }
      results.push({
        device,
        adapters: report.adapters,
        adapterNote,
        placement: report.placement && { nodes: report.placement.nodes, providers: report.placement.providers, fellBack: report.placement.fellBack },
        steps: report.steps.map((s) => ({ size: `${s.width}x${s.height}`, seconds: round(s.seconds), firstSeconds: round(s.firstSeconds) })),
        video640x360: videos,
      });
      process.stderr.write(`bench gpu: ${device}: done\n`);
    }
    const cpu = results.find((r) => r['device'] === 'cpu') as { steps?: Array<{ size: string; seconds: number }> } | undefined;
    for (const r of results as Array<{ device: string; steps?: Array<{ size: string; seconds: number; vsCpu?: number }> }>) {
      for (const s of r.steps ?? []) {
        const base = cpu?.steps?.find((c) => c.size === s.size);
        if (base && r.device !== 'cpu') s.vsCpu = round(base.seconds / s.seconds);
      }
    }
    const result = { model: 'bvlc_googlenet', objective: 'inception_4c/output (the default)', video: { size: '640x360', frames, presets: VIDEO_PRESETS }, devices: results };
    writeResult('gpu', result);
    return result;
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
}

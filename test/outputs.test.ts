/**
 * Outputs the machine cannot take: a read-only or full disk (checked before any dreaming, and met
 * mid-way by a video), and pictures or frames too large for its memory (refused before anything
 * is allocated). The disks are real: small or read-only tmpfs mounts in a user and mount
 * namespace of their own (test/helpers/mounted.mjs), since root ignores permission bits.
 */
import { spawn } from 'node:child_process';
import { mkdirSync, readFileSync, readdirSync, truncateSync, writeFileSync, existsSync } from 'node:fs';
import { totalmem } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { makeClip, removeDir } from '../bench/fixtures/clips.js';
import { pixelSteps, REFERENCE_PIXEL_STEPS_PER_SECOND } from '../src/dream/cost.js';
import { checkMemory, estimateMemory, largestFitting, machineMemory, memoryLimit, parseMemory, tileShapes, TIME_BUDGET_SECONDS, type DreamFootprint } from '../src/dream/memory.js';
import { tileGrid } from '../src/dream/tiles.js';
import { ffmpegRun } from '../src/media/run.js';
import { lastJson, runCli } from './helpers/cli.js';
import { BIN, ROOT, SAMPLES, tempDir } from './helpers/paths.js';

interface Step {
  code: number | null;
  stderr: string;
  stdout: string;
  ms: number;
  /** Files left in each mounted folder, relative, with sizes. */
  files: Record<string, Record<string, number>>;
}

interface Plan {
  mounts: Array<{ dir: string; options: string }>;
  steps: Array<{ args: string[]; remount?: Array<{ dir: string; options: string }>; fill?: string[]; timeoutMs?: number }>;
}

/** Run CLI steps with tmpfs mounts that exist only in a namespace of their own. */
async function inMounts(plan: Plan): Promise<Step[]> {
  const dir = tempDir();
  const planPath = join(dir, 'plan.json');
  const report = join(dir, 'report.json');
  for (const m of plan.mounts) mkdirSync(m.dir, { recursive: true });
  writeFileSync(planPath, JSON.stringify({ ...plan, bin: BIN, report }));
  const stderr = await new Promise<string>((resolve, reject) => {
    const child = spawn('unshare', ['-rm', process.execPath, join(ROOT, 'test', 'helpers', 'mounted.mjs'), planPath], { stdio: ['ignore', 'ignore', 'pipe'] });
    let err = '';
    child.stderr.on('data', (d: Buffer) => (err += d.toString()));
    child.on('error', reject);
    child.on('close', () => resolve(err));
  });
  try {
    if (!existsSync(report)) throw new Error(`the namespace helper wrote no report: ${stderr}`);
    return JSON.parse(readFileSync(report, 'utf8')) as Step[];
  } finally {
    await removeDir(dir);
  }
}

/** One line, no stack trace, exit code 2. */
function expectOneLine(step: Step, message: RegExp): void {
  expect(step.stderr, step.stderr).toMatch(message);
  expect(step.stderr.trim().split('\n')).toHaveLength(1);
  expect(step.stderr).not.toMatch(/\n\s+at |internal error/);
  expect(step.code, step.stderr).toBe(2);
}

const FAST = ['--octaves', '1', '--iterations', '1', '--frame-iterations', '1', '--quiet'];

describe('outputs on a read-only or full disk', () => {
  let dir: string;
  let clip: string;
  let pano: string;
  let stills: string;
  beforeAll(async () => {
    dir = tempDir();
    clip = await makeClip({ width: 96, height: 64, fps: 12, seconds: 1, audio: true, dir, name: 'clip.mp4' });
    pano = await makeClip({ width: 128, height: 64, fps: 6, seconds: 0.5, dir, name: 'pano.mp4' });
    stills = join(dir, 'stills');
    mkdirSync(stills);
    writeFileSync(join(stills, 'm.png'), readFileSync(join(SAMPLES, 'mandelbrot.png')));
  });
  afterAll(() => removeDir(dir));

  it('refuses every kind of output on a read-only file system before dreaming, in one line', async () => {
    const ro = join(dir, 'ro');
    const pipeline = join(dir, 'pipeline.json');
    writeFileSync(pipeline, JSON.stringify({ source: { kind: 'image', path: join(SAMPLES, 'mandelbrot.png') }, stages: [{ kind: 'dream' }], sinks: [{ kind: 'image', path: join(ro, 'p.png') }] }));
    const cases: Array<[string, string[]]> = [
      // 60 steps at 512: half a minute of dreaming if the check came after it.
      ['x.png', ['image', join(SAMPLES, 'mandelbrot.png'), '-o', join(ro, 'x.png'), '--size', '512', '--iterations', '60', '--quiet']],
      ['x.mp4', ['video', clip, '-o', join(ro, 'x.mp4'), ...FAST]],
      ['v.mp4', ['vr', pano, '-o', join(ro, 'v.mp4'), ...FAST]],
      ['out', ['stills', stills, '-o', join(ro, 'out'), '--quiet']],
      ['g.png', ['layers', '--gallery', join(ro, 'g.png'), '--input', join(SAMPLES, 'mandelbrot.png'), '--layers', 'inception_3b,inception_4c', '--quiet']],
      ['s.png', ['sweep', join(SAMPLES, 'mandelbrot.png'), '-o', join(ro, 's.png'), '--layers', 'inception_3b,inception_4c', '--quiet']],
      ['r.mp4', ['live', '--input', 'lavfi:testsrc2', '--record', join(ro, 'r.mp4'), '--port', '0', '--quiet']],
      ['p.png', ['run', pipeline, '--quiet']],
    ];
    const steps = await inMounts({ mounts: [{ dir: ro, options: 'ro,size=1m' }], steps: cases.map(([, args]) => ({ args, timeoutMs: 60_000 })) });
    steps.forEach((step, i) => {
      const name = cases[i]![0];
      // The check's own words: found before dreaming, not when the output was written.
      expectOneLine(step, new RegExp(`cannot write \\S*ro/${name.replace('.', '\\.')}: read-only file system \\(\\S*ro\\)`));
    });
    expect(steps[0]!.ms).toBeLessThan(15_000);
  });

  it('refuses a full disk before dreaming and leaves nothing behind', async () => {
    const full = join(dir, 'full');
    const steps = await inMounts({
      mounts: [{ dir: full, options: 'size=256k' }],
      steps: [
        { fill: [full], args: ['image', join(SAMPLES, 'mandelbrot.png'), '-o', join(full, 'x.png'), '--size', '512', '--iterations', '60', '--quiet'] },
        { args: ['video', clip, '-o', join(full, 'x.mp4'), ...FAST] },
      ],
    });
    for (const step of steps) {
      expectOneLine(step, /cannot write \S*full\/x\.(png|mp4): no space left on device/);
      expect(Object.keys(step.files[full]!)).toEqual(['filler']);
    }
    expect(steps[0]!.ms).toBeLessThan(15_000);
  });

  it('an image that does not fit in the space left: one line, and no temp file', async () => {
    // Room for the check's 4 kB probe, not for the picture.
    const small = join(dir, 'small');
    const [step] = await inMounts({
      mounts: [{ dir: small, options: 'size=12k' }],
      steps: [{ args: ['image', '--from', 'noise', '--size', '256', '-o', join(small, 'x.png'), '--octaves', '1', '--iterations', '1', '--quiet'] }],
    });
    expectOneLine(step!, /^dreamflow: no space left on device writing \S*small\/x\.png$/m);
    expect(step!.files[small]).toEqual({});
  });

  it('a video that runs out of space mid-way keeps what --resume needs, no temp files, and then finishes', async () => {
    // 300 kB: room for the start (one frame and its commit) and a few frames more, not for 12.
    const disk = join(dir, 'disk');
    const out = join(disk, 'x.mp4');
    const steps = await inMounts({
      mounts: [{ dir: disk, options: 'size=300k' }],
      steps: [
        { args: ['video', clip, '-o', out, ...FAST] },
        { remount: [{ dir: disk, options: 'size=8m' }], args: ['video', clip, '-o', out, ...FAST, '--resume', '--json'] },
      ],
    });
    const [failed, resumed] = steps as [Step, Step];
    expectOneLine(failed, /no space left on device writing \S*\.x\.mp4\.dreamflow\/\S+; \d+ finished frame\(s\) are kept in \S*\.x\.mp4\.dreamflow: free some space and run the same command with --resume/);
    const kept = Number(/; (\d+) finished frame/.exec(failed.stderr)![1]);
    expect(kept).toBeGreaterThan(0);
    expect(kept).toBeLessThan(12);
    const files = Object.keys(failed.files[disk]!);
    // The committed frames and their commit record; nothing half-written, no output.
    expect(files.filter((f) => /frame-\d+\.rgb$/.test(f))).toHaveLength(kept);
    expect(files).toContain('.x.mp4.dreamflow/job.json');
    expect(files).toContain('.x.mp4.dreamflow/state.bin');
    expect(files.filter((f) => /tmp-|partial/.test(f))).toEqual([]);
    expect(files).not.toContain('x.mp4');

    expect(resumed.code, resumed.stderr).toBe(0);
    const summary = lastJson<{ frames: number; resumedFrom: number }>(resumed.stdout);
    expect(summary).toMatchObject({ frames: 12, resumedFrom: kept });
    expect(Object.keys(resumed.files[disk]!)).toEqual(['x.mp4']);
  });
});

describe('memory', () => {
  const base: DreamFootprint = { width: 1024, height: 1024, octaves: 4, octaveScale: 1.4, tile: 512, workers: 1, model: 'bvlc_googlenet', engine: 'onnx', job: 'image' };
  const total = (f: Partial<DreamFootprint>): number => estimateMemory({ ...base, ...f }).total;

  it('the estimate grows with the picture, the workers, the octaves, the tile and a whole-picture objective', () => {
    const sides = [64, 256, 512, 1000, 2048, 4096, 16384];
    for (let i = 1; i < sides.length; i++) expect(total({ width: sides[i], height: sides[i] })).toBeGreaterThan(total({ width: sides[i - 1], height: sides[i - 1] }));
    expect(total({ workers: 2 })).toBeGreaterThan(total({ workers: 1 }));
    expect(total({ workers: 4 })).toBeGreaterThan(total({ workers: 2 }));
    expect(total({ octaves: 4 })).toBeGreaterThan(total({ octaves: 1 }));
    expect(total({ tile: 1024 })).toBeGreaterThan(total({ tile: 256 }));
    expect(total({ wholeImage: true })).toBeGreaterThan(total({}));
    expect(total({ job: 'video' })).toBeGreaterThan(total({ job: 'image' }));
    expect(total({ model: 'squeezenet' })).toBeLessThan(total({ model: 'bvlc_googlenet' }));
    // Calibrated on real runs (docs/architecture.md, "Memory"): 2048² in one octave peaked at 1.34 GB.
    expect(total({ width: 2048, height: 2048, octaves: 1 }) / 1.34e9).toBeGreaterThan(0.9);
    expect(total({ width: 2048, height: 2048, octaves: 1 }) / 1.34e9).toBeLessThan(1.4);
    // Far beyond a 24 GB machine: each float copy of a 16384² picture is 3.2 GB.
    expect(total({ width: 16384, height: 16384 })).toBeGreaterThan(24e9);
  });

  it('counts the tile shapes of the full tile grid, however many tiles it has', () => {
    for (const [width, height, tile, workers, wrapX] of [
      [1024, 1024, 512, 1, false], [2048, 1152, 512, 2, false], [1500, 701, 256, 3, true], [300, 200, 512, 4, false], [4096, 300, 64, 2, false], [3000, 3000, 64, 16, true],
    ] as Array<[number, number, number, number, boolean]>) {
      const f = { width, height, octaves: 3, octaveScale: 1.4, tile, workers, wrapX };
      const shapes = tileShapes(f);
      // By brute force: every tile of every octave, and of the full size again for the values.
      let w = width;
      let h = height;
      const sizes: Array<[number, number]> = [[width, height]];
      for (let o = 1; o < 3; o++) {
        w = Math.round(w / 1.4);
        h = Math.round(h / 1.4);
        if (Math.min(w, h) >= 40) sizes.push([w, h]);
      }
      const gradient = new Set<string>();
      let largest = 0;
      for (const [sw, sh] of sizes) {
        for (const t of tileGrid(sw, sh, { maxTile: tile, margin: 32, minTiles: workers, wrapX })) {
          gradient.add(`${t.view.width}x${t.view.height}`);
          largest = Math.max(largest, t.view.width * t.view.height);
        }
      }
      const value = new Set(tileGrid(width, height, { maxTile: tile, margin: 32, minTiles: workers, wrapX }).map((t) => `${t.view.width}x${t.view.height}`));
      expect(shapes).toEqual({ shapes: gradient.size + value.size, largest });
    }
  });

  it('what the machine has: its memory, a lower cgroup limit, or DREAMFLOW_MEMORY_LIMIT', () => {
    expect(memoryLimit({ total: 24e9 })).toEqual({ bytes: 24e9, what: "this machine's 24.0 GB" });
    expect(memoryLimit({ total: 24e9, cgroupV2: 'max\n' }).bytes).toBe(24e9);
    expect(memoryLimit({ total: 24e9, cgroupV2: '8589934592\n' })).toEqual({ bytes: 8589934592, what: "the container's limit of 8.6 GB" });
    expect(memoryLimit({ total: 24e9, cgroupV1: '9223372036854771712\n' }).bytes).toBe(24e9);
    expect(memoryLimit({ total: 24e9, env: '16G' }).bytes).toBe(16 * 1024 ** 3);
    expect(() => memoryLimit({ total: 24e9, env: 'lots' })).toThrow(/DREAMFLOW_MEMORY_LIMIT must be/);
    expect([parseMemory('512M'), parseMemory('2GiB'), parseMemory('1000'), parseMemory('-1G')]).toEqual([512 * 1024 ** 2, 2 * 1024 ** 3, 1000, undefined]);
    const here = machineMemory();
    expect(here.bytes).toBeGreaterThan(0);
    expect(here.bytes).toBeLessThanOrEqual(totalmem());
  });

  it('refuses with the estimate, the limit and what to change; the suggested size fits', () => {
    const limit = { bytes: 4e9, what: 'a test limit' };
    const big = { ...base, width: 8192, height: 8192 };
    expect(() => checkMemory(big, { limit, free: 8e9 })).toThrow(/^a 8192x8192 dream needs about \d+\.\d GB of memory \(frames .*\), more than a test limit: use a smaller --size \(\d+x\d+ fits\)/);
    const fit = largestFitting(big, 4e9 * 0.9)!;
    expect(fit.width).toBeLessThan(8192);
    expect(estimateMemory({ ...big, ...fit }).total).toBeLessThanOrEqual(4e9 * 0.9);
    expect(estimateMemory({ ...big, width: fit.width + 64, height: fit.height + 64 }).total).toBeGreaterThan(4e9 * 0.9);
    // Large tiles and several workers: those are named too.
    expect(() => checkMemory({ ...base, width: 2048, height: 2048, tile: 2048, workers: 2 }, { limit: { bytes: 4e9, what: 'x' }, free: 8e9 })).toThrow(/--tile 256 or fewer --workers$/);
    // More than is free now (available memory and swap) is refused too: a long video would be
    // ended by the kernel hours in. The user's own DREAMFLOW_MEMORY_LIMIT only warns.
    const frame = { ...base, width: 16000, height: 9000, job: 'video' as const };
    const need = estimateMemory(frame).total;
    expect(() => checkMemory(frame, { limit: { bytes: 64e9, what: 'x' }, free: need * 0.86 })).toThrow(/^a 16000x9000 video frame needs about .*, more than the \d+\.\d GB free now \(set DREAMFLOW_MEMORY_LIMIT to go ahead anyway\): use a smaller --size/);
    const warnings: string[] = [];
    checkMemory(base, { limit: { bytes: 64e9, what: 'x', byUser: true }, free: 1e6, onWarning: (m) => warnings.push(m) });
    expect(warnings).toEqual([expect.stringMatching(/needs about .* and 1 MB is free now/)]);
  });

  it('refuses a 16384x16384 noise image at once: exit code 2, one line, no output', async () => {
    const dir = tempDir();
    const out = join(dir, 'huge.png');
    const started = Date.now();
    // A fixed limit, so the test means the same on a machine with more memory than this one's.
    const r = await runCli(['image', '--from', 'noise', '--size', '16384x16384', '-o', out], { env: { DREAMFLOW_MEMORY_LIMIT: '16G' } });
    const seconds = (Date.now() - started) / 1000;
    expect(r.stderr).toMatch(/^dreamflow: a 16384x16384 dream needs about \d+\.\d GB of memory .* more than DREAMFLOW_MEMORY_LIMIT=16G \(17\.2 GB\): use a smaller --size \(\d+x\d+ fits in memory and dreams it in about \d+ min on 2 CPU cores\)/);
    // The suggestion fits memory and a stated time: what fits 16 GB alone would take hours.
    const [w, h] = /--size \((\d+)x(\d+) fits/.exec(r.stderr)!.slice(1).map(Number) as [number, number];
    expect(pixelSteps(w, h, 4, 1.4, 10) / REFERENCE_PIXEL_STEPS_PER_SECOND).toBeLessThanOrEqual(TIME_BUDGET_SECONDS);
    expect(estimateMemory({ ...base, width: w, height: h }).total).toBeLessThan(16 * 1024 ** 3);
    expect(largestFitting({ ...base, width: 16384, height: 16384 }, 16 * 1024 ** 3 * 0.9)!.width).toBeGreaterThan(1.3 * w);
    expect(r.stderr.trim().split('\n')).toHaveLength(1);
    expect(r.code).toBe(2);
    // Refused before the engines load or a pixel is made (that alone takes seconds and 3 GB a copy).
    expect(seconds).toBeLessThan(5);
    expect(readdirSync(dir)).toEqual([]);
    await removeDir(dir);
  });

  it('refuses video, vr and live jobs whose working frame does not fit, before any work', async () => {
    const dir = tempDir();
    const clip = await makeClip({ width: 96, height: 64, fps: 6, seconds: 0.5, dir, name: 'c.mp4' });
    const pano = await makeClip({ width: 128, height: 64, fps: 6, seconds: 0.5, dir, name: 'p.mp4' });
    const env = { DREAMFLOW_MEMORY_LIMIT: '2G' };
    const video = await runCli(['video', clip, '-o', join(dir, 'v.mp4'), '--size', '8192x4608'], { env });
    expect(video.stderr).toMatch(/^dreamflow: a 8192x4608 video frame needs about .* GB of memory .*more than DREAMFLOW_MEMORY_LIMIT=2G.*--size \(\d+x\d+ fits in memory and dreams a first frame in about \d+ min on 2 CPU cores\)/);
    const vr = await runCli(['vr', pano, '-o', join(dir, 'r.mp4'), '--size', '8192x4096'], { env });
    expect(vr.stderr).toMatch(/^dreamflow: a 8192x4096 vr frame needs about .* GB of memory/);
    const live = await runCli(['live', '--input', 'lavfi:testsrc2', '--size', '3840x2160', '--port', '0'], { env: { DREAMFLOW_MEMORY_LIMIT: '1G' } });
    expect(live.stderr).toMatch(/^dreamflow: a 3840x2160 video frame needs about .* of memory .*: use a smaller --size \(\d+x\d+ fits in memory and dreams a first frame in about \d+ min on 2 CPU cores\) or --tile 256/);
    for (const r of [video, vr, live]) {
      expect(r.stderr.trim().split('\n')).toHaveLength(1);
      expect(r.code).toBe(2);
    }
    // No output, no work folder.
    expect(readdirSync(dir).sort()).toEqual(['c.mp4', 'p.mp4']);
    await removeDir(dir);
  });
});

describe('work folders of jobs that fail before their first frame', () => {
  it('a vr input with an index but no decodable frame leaves no work folder', async () => {
    const dir = tempDir();
    const pano = await makeClip({ width: 128, height: 64, fps: 6, seconds: 0.5, dir, name: 'p.mp4' });
    const cut = join(dir, 'cut.mp4');
    await ffmpegRun(['-y', '-i', pano, '-c', 'copy', '-movflags', '+faststart', cut]);
    // Keep the index (at the front) and almost none of the media data.
    truncateSync(cut, readFileSync(cut).indexOf(Buffer.from('mdat')) + 64);
    const r = await runCli(['vr', cut, '-o', join(dir, 'out.mp4'), ...FAST]);
    expect(r.code).toBe(2);
    expect(r.stderr.trim().split('\n')).toHaveLength(1);
    expect(readdirSync(dir).sort()).toEqual(['cut.mp4', 'p.mp4']);
    await removeDir(dir);
  });
});

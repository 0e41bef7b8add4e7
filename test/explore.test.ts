import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import sharp from 'sharp';
import { DEFAULT_DREAM, dream, objectiveValue, type DreamSettings } from '../src/dream/deepdream.js';
import { fft } from '../src/dream/fft.js';
import { classScore, layer, neuron, parseLayerSpec } from '../src/dream/objectives.js';
import { NO_PRIORS, type DreamPriors } from '../src/dream/priors.js';
import type { RgbImage } from '../src/dream/image.js';
import { createRunner, type GradientRunner } from '../src/dream/runner.js';
import { highFrequencyEnergy } from '../src/metrics/frequency.js';
import { classifierLayers, loadLabels, resolveClass } from '../src/models/labels.js';
import { loadManifest } from '../src/models/manifest.js';
import { readImage } from '../src/sources/image.js';
import { startImage } from '../src/sources/synthetic.js';
import { lastJson, runCli } from './helpers/cli.js';
import { SHARED_IMAGES, tempDir } from './helpers/paths.js';

function argmax(values: Float32Array): number {
  let best = 0;
  for (let i = 1; i < values.length; i++) if (values[i]! > values[best]!) best = i;
  return best;
}

async function probabilities(runner: GradientRunner, image: RgbImage): Promise<Float32Array> {
  return (await runner.features(image, classifierLayers(runner.manifest).probability)).features;
}

async function rawPixels(path: string, rect?: { x: number; y: number; width: number; height: number }): Promise<Buffer> {
  let s = sharp(path).removeAlpha();
  if (rect) s = s.extract({ left: rect.x, top: rect.y, width: rect.width, height: rect.height });
  return s.raw().toBuffer();
}

describe('exploration maths', () => {
  it('fft of any length matches the direct DFT and inverts exactly', () => {
    for (const n of [7, 8, 12]) {
      const re = Float64Array.from({ length: n }, (_, i) => Math.sin(i * 1.3) + i * 0.1);
      const im = new Float64Array(n);
      const [r, m] = [Float64Array.from(re), Float64Array.from(im)];
      fft(r, m);
      for (let k = 0; k < n; k++) {
        let dr = 0;
        let di = 0;
        for (let t = 0; t < n; t++) {
          dr += re[t]! * Math.cos((-2 * Math.PI * k * t) / n);
          di += re[t]! * Math.sin((-2 * Math.PI * k * t) / n);
        }
        expect(r[k]).toBeCloseTo(dr, 9);
        expect(m[k]).toBeCloseTo(di, 9);
      }
      fft(r, m, true);
      for (let t = 0; t < n; t++) expect(r[t]).toBeCloseTo(re[t]!, 9);
    }
  });

  it('classes resolve by synonym or index, and a typo gets the nearest names', () => {
    const labels = loadLabels(loadManifest('bvlc_googlenet'));
    expect(resolveClass(labels, 'tabby cat')).toBe(281);
    expect(resolveClass(labels, 'Tabby')).toBe(281);
    expect(resolveClass(labels, 'tabby, tabby cat')).toBe(281);
    expect(resolveClass(labels, '281')).toBe(281);
    expect(() => resolveClass(labels, 'tabby kat')).toThrow(/did you mean "tabby cat"/);
    expect(() => resolveClass(labels, '1000')).toThrow(/out of range/);
  });

  it('layer weights may be negative (suppression)', () => {
    const o = parseLayerSpec('inception_4c/output:1,inception_3b/output:-0.5');
    expect(o.terms.map((t) => t.weight)).toEqual([1, -0.5]);
  });

  it('noise starts are seeded and grey starts are flat', () => {
    expect(startImage('noise', 16, 8, 3).data).toEqual(startImage('noise', 16, 8, 3).data);
    expect(startImage('noise', 16, 8, 3).data).not.toEqual(startImage('noise', 16, 8, 4).data);
    expect(new Set(startImage('gray', 16, 8).data).size).toBe(1);
  });
});

describe('objectives and priors on the real network', () => {
  let runner: GradientRunner;
  beforeAll(async () => {
    runner = await createRunner({ backend: 'onnx', workers: 1, quiet: true });
  });
  afterAll(async () => runner.close());

  it('the class objective makes "tabby cat" the top-1 class of a photo of a husky', async () => {
    const labels = loadLabels(runner.manifest);
    const tabby = resolveClass(labels, 'tabby cat');
    const photo = await readImage(join(SHARED_IMAGES, 'dog.jpg'), { fit: 160 });
    const before = await probabilities(runner, photo);
    expect(argmax(before)).not.toBe(tabby);
    expect(before[tabby]).toBeLessThan(0.01);
    const out = await dream(runner, photo, classScore(classifierLayers(runner.manifest).logits, tabby), DEFAULT_DREAM);
    const after = await probabilities(runner, out);
    expect(argmax(after)).toBe(tabby);
    expect(after[tabby]).toBeGreaterThan(before[tabby]! * 100);
  });

  it('the neuron objective raises its activation at least 5x from noise', async () => {
    const obj = neuron('inception_4c/output', 139);
    const start = startImage('noise', 128, 128, 0);
    const before = await objectiveValue(runner, start, obj);
    const after = await objectiveValue(runner, await dream(runner, start, obj, DEFAULT_DREAM), obj);
    expect(before).toBeGreaterThan(0);
    expect(after / before).toBeGreaterThanOrEqual(5);
  });

  it('a negative layer weight suppresses the layer', async () => {
    const photo = await readImage(join(SHARED_IMAGES, 'kite.jpg'), { fit: 96 });
    const measure = layer('inception_3b/output');
    const settings: DreamSettings = { ...DEFAULT_DREAM, octaves: 1, iterations: 6 };
    const suppressed = await dream(runner, photo, layer('inception_3b/output', -1), settings);
    expect(await objectiveValue(runner, suppressed, measure)).toBeLessThan(0.8 * (await objectiveValue(runner, photo, measure)));
  });

  // Each prior, at a moderate strength, against the classic step on the same photo and seed:
  // the objective stays within 20 % of the classic one (similar value), while the image's
  // high-frequency energy (mean squared Laplacian) drops by at least 10 %.
  it('each prior lowers high-frequency energy at a similar objective value; all off is the classic step', async () => {
    const photo = await readImage(join(SHARED_IMAGES, 'eagle.jpg'), { fit: 128 });
    const obj = layer('inception_4c/output');
    const settings: DreamSettings = { ...DEFAULT_DREAM, octaves: 3 };
    const classic = await dream(runner, photo, obj, settings);
    const classicValue = await objectiveValue(runner, classic, obj);
    const classicHf = highFrequencyEnergy(classic);
    const off = await dream(runner, photo, obj, { ...settings, priors: NO_PRIORS });
    expect(off.data).toEqual(classic.data);
    const priors: Record<string, Partial<DreamPriors>> = {
      tv: { tv: 0.3 },
      decay: { decay: 0.05 },
      'blur gradient': { blur: 1 },
      'blur image': { blur: 0.6, blurTarget: 'image' },
      decorrelate: { decorrelate: true },
    };
    const measured: Record<string, { value: number; hf: number }> = {};
    for (const [name, p] of Object.entries(priors)) {
      const out = await dream(runner, photo, obj, { ...settings, priors: { ...NO_PRIORS, ...p } });
      measured[name] = { value: (await objectiveValue(runner, out, obj)) / classicValue, hf: highFrequencyEnergy(out) / classicHf };
    }
    for (const [name, m] of Object.entries(measured)) {
      expect(m.value, `${name}: objective relative to the classic step`).toBeGreaterThan(0.8);
      expect(m.hf, `${name}: high-frequency energy relative to the classic step`).toBeLessThan(0.9);
    }
  });
});

describe('sweep and info commands', () => {
  const dir = tempDir('dreamflow-explore-');

  it('a sweep renders a labelled grid whose JSON reproduces a cell bit for bit', async () => {
    const sheet = join(dir, 'sweep.png');
    const res = await runCli([
      'sweep', join(SHARED_IMAGES, 'eagle.jpg'), '-o', sheet, '--size', '96',
      '--layers', 'inception_3b,inception_4c', '--step', '0.5,1.5', '--octaves', '2', '--iterations', '3', '--json',
    ]);
    expect(res.code, res.stderr).toBe(0);
    expect(lastJson(res.stdout)).toMatchObject({ rows: 2, cols: 2, cells: 4 });
    const sweep = JSON.parse(readFileSync(join(dir, 'sweep.json'), 'utf8')) as {
      axes: Array<{ flag: string; values: string[] }>;
      cells: Array<{ row: number; col: number; args: string[]; rect: { x: number; y: number; width: number; height: number }; dreamGain: number; values: Record<string, string> }>;
    };
    expect(sweep.axes.map((a) => a.flag)).toEqual(['layers', 'step']);
    expect(sweep.cells).toHaveLength(4);
    for (const c of sweep.cells) expect(c.dreamGain).toBeGreaterThan(1);
    const cell = sweep.cells.find((c) => c.row === 1 && c.col === 1)!;
    expect(cell.values).toEqual({ layers: 'inception_4c', step: '1.5' });
    // Rerun that one cell through `dreamflow image` with the JSON's arguments.
    const args = cell.args.map((a) => (a === 'cell-1-1.png' ? join(dir, 'cell.png') : a));
    const again = await runCli(['image', ...args, '--quiet']);
    expect(again.code, again.stderr).toBe(0);
    const [fromSheet, rerun] = await Promise.all([rawPixels(sheet, cell.rect), rawPixels(join(dir, 'cell.png'))]);
    expect(rerun.equals(fromSheet)).toBe(true);
    // Another cell differs: the comparison can fail.
    const other = sweep.cells.find((c) => c.row === 0 && c.col === 0)!;
    expect((await rawPixels(sheet, other.rect)).equals(rerun)).toBe(false);
    const info = await runCli(['info', sheet, '--json']);
    expect(info.code).toBe(0);
    expect(lastJson<{ settings: { command: string; cells: unknown[] } }>(info.stdout).settings).toMatchObject({ command: 'sweep' });
  });

  it('settings survive a round trip through dreamflow info (JPEG comment and PNG chunk)', async () => {
    const flags = ['--from', 'noise', '--size', '64', '--octaves', '1', '--iterations', '2', '--seed', '7', '--class', 'tabby cat', '--tv', '0.2', '--blur', '1:0.5', '--decorrelate'];
    for (const ext of ['jpg', 'png']) {
      const out = join(dir, `noise.${ext}`);
      const res = await runCli(['image', ...flags, '-o', out, '--quiet']);
      expect(res.code, res.stderr).toBe(0);
      const info = await runCli(['info', out, '--json']);
      expect(info.code).toBe(0);
      const got = lastJson<{ width: number; settings: Record<string, unknown> }>(info.stdout);
      expect(got.width).toBe(64);
      expect(got.settings).toMatchObject({
        command: 'image',
        spec: { source: { kind: 'image', from: 'noise', size: '64' }, stages: [{ kind: 'dream', class: 'tabby cat' }] },
        terms: ['class#281'],
        settings: { octaves: 1, iterations: 2, seed: 7, priors: { tv: 0.2, decay: 0, blur: 1, blurEnd: 0.5, blurTarget: 'gradient', decorrelate: true } },
      });
      expect(String(got.settings.reproduce)).toContain("--class 'tabby cat'");
      const text = await runCli(['info', out]);
      expect(text.stdout).toMatch(/settings\.priors\.tv: 0\.2/);
      expect(text.stdout).toMatch(/^reproduce: dreamflow image --from noise /m);
    }
  });

  it('bad exploration input gets one clear line and exit code 2', async () => {
    const out = join(dir, 'bad.png');
    const typo = await runCli(['image', '--from', 'gray', '--size', '64', '--class', 'tabby kat', '-o', out]);
    expect(typo.code).toBe(2);
    expect(typo.stderr.trim().split('\n')).toHaveLength(1);
    expect(typo.stderr).toMatch(/unknown class "tabby kat"; did you mean "tabby cat"/);
    const both = await runCli(['image', join(SHARED_IMAGES, 'dog.jpg'), '--from', 'noise', '-o', out]);
    expect(both.code).toBe(2);
    expect(both.stderr).toMatch(/not both/);
    const sweepNone = await runCli(['sweep', join(SHARED_IMAGES, 'dog.jpg'), '-o', join(dir, 's.png')]);
    expect(sweepNone.code).toBe(2);
    expect(sweepNone.stderr).toMatch(/comma lists/);
  });
});

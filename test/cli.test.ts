import { existsSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import sharp from 'sharp';
import { describe, expect, it } from 'vitest';
import { lastJson, runCli } from './helpers/cli.js';
import { SAMPLES, SHARED_IMAGES, tempDir } from './helpers/paths.js';

describe('dreamflow image', () => {
  it('dreams a photo and reports the result as one JSON line', async () => {
    const dir = tempDir();
    const out = join(dir, 'horses.png');
    const r = await runCli(['image', join(SHARED_IMAGES, 'horses.jpg'), '-o', out, '--size', '128', '--octaves', '2', '--iterations', '6', '--json']);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    const result = lastJson<{ output: string; width: number; height: number; dreamGain: number; backend: string; model: string; layers: string[] }>(r.stdout);
    expect(result).toMatchObject({ output: out, width: 128, backend: 'onnx', model: 'bvlc_googlenet', layers: ['inception_4c/output'] });
    expect(result.dreamGain).toBeGreaterThan(2);
    const meta = await sharp(out).metadata();
    expect([meta.width, meta.height, meta.format]).toEqual([128, result.height, 'png']);
    // No temp file is left beside the output.
    expect(readdirSync(dir)).toEqual(['horses.png']);
  });

  it('dreams the committed sample still with SqueezeNet at a weighted pair of layers', async () => {
    const out = join(tempDir(), 'm.jpg');
    const r = await runCli([
      'image', join(SAMPLES, 'mandelbrot.png'), '-o', out, '--model', 'squeezenet', '--layer', 'fire5:1,fire7:0.5',
      '--size', '96x64', '--octaves', '1', '--iterations', '4', '--json',
    ]);
    expect(r.code).toBe(0);
    const result = lastJson<{ layers: string[]; dreamGain: number }>(r.stdout);
    expect(result.layers).toEqual(['fire5/concat', 'fire7/concat:0.5']);
    expect(result.dreamGain).toBeGreaterThan(1);
    expect((await sharp(out).metadata()).format).toBe('jpeg');
  });

  const bad: Array<[string, (dir: string) => string[], RegExp]> = [
    ['a missing file', (d) => ['image', join(d, 'nope.jpg'), '-o', join(d, 'o.png')], /no such image: .*nope\.jpg/],
    ['a file that is not an image', (d) => {
      writeFileSync(join(d, 'text.jpg'), 'hello, not a picture');
      return ['image', join(d, 'text.jpg'), '-o', join(d, 'o.png')];
    }, /text\.jpg is not an image/],
    ['an empty file', (d) => {
      writeFileSync(join(d, 'empty.png'), '');
      return ['image', join(d, 'empty.png'), '-o', join(d, 'o.png')];
    }, /empty\.png is empty/],
    ['an unknown layer', (d) => ['image', join(SAMPLES, 'mandelbrot.png'), '-o', join(d, 'o.png'), '--layer', 'inception_4cc'], /unknown layer "inception_4cc".*did you mean inception_4c\/output/],
    ['an unknown model', (d) => ['image', join(SAMPLES, 'mandelbrot.png'), '-o', join(d, 'o.png'), '--model', 'googlnet'], /unknown model "googlnet"; did you mean/],
    ['a negative step', (d) => ['image', join(SAMPLES, 'mandelbrot.png'), '-o', join(d, 'o.png'), '--step=-1'], /--step must be a number from 0\.0001 to 100, got number -1/],
    ['a fractional octave count', (d) => ['image', join(SAMPLES, 'mandelbrot.png'), '-o', join(d, 'o.png'), '--octaves', '2.5'], /--octaves must be a whole number/],
    ['a channel out of range', (d) => ['image', join(SAMPLES, 'mandelbrot.png'), '-o', join(d, 'o.png'), '--channel', '9999'], /--channel 9999 is out of range/],
    ['an output folder that does not exist', (d) => ['image', join(SAMPLES, 'mandelbrot.png'), '-o', join(d, 'missing', 'o.png')], /output folder does not exist/],
    ['an unknown output format', (d) => ['image', join(SAMPLES, 'mandelbrot.png'), '-o', join(d, 'o.xyz')], /cannot tell the image format/],
    ['an unknown flag', (d) => ['image', join(SAMPLES, 'mandelbrot.png'), '-o', join(d, 'o.png'), '--octavez', '3'], /image: unknown option --octavez \(did you mean --octaves/],
  ];
  it.each(bad)('refuses %s with one line, exit code 2 and no output', async (_, args, message) => {
    const dir = tempDir();
    const r = await runCli(args(dir));
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(message);
    expect(r.stderr.trim().split('\n')).toHaveLength(1);
    expect(r.stderr).not.toMatch(/\n\s+at /);
    expect(existsSync(join(dir, 'o.png'))).toBe(false);
    expect(readdirSync(dir).filter((f) => f.startsWith('.'))).toEqual([]);
  });
});

describe('dreamflow layers', () => {
  it('lists dreamable layers with channel counts', async () => {
    const r = await runCli(['layers', '--json']);
    expect(r.code).toBe(0);
    const { layers, defaultLayer } = lastJson<{ layers: Array<{ name: string; channels: number }>; defaultLayer: string }>(r.stdout);
    expect(defaultLayer).toBe('inception_4c/output');
    expect(layers.find((l) => l.name === 'inception_3b/output')?.channels).toBe(480);
  });

  it('renders a labelled gallery of one image dreamed at chosen layers', async () => {
    const out = join(tempDir(), 'gallery.png');
    const r = await runCli([
      'layers', '--gallery', out, '--input', join(SHARED_IMAGES, 'dog.jpg'), '--layers', 'inception_3b/output,inception_4c',
      '--size', '96x64', '--octaves', '1', '--iterations', '3', '--quiet',
    ]);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    const meta = await sharp(out).metadata();
    // Two cells side by side, each 96 wide and 64 + a label strip high.
    expect(meta.width).toBe(192);
    expect(meta.height).toBeGreaterThan(64);
  });
});

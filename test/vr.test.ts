/**
 * 360° VR: wrap-around in longitude (dream core, flow), cubemap reprojection, stereo eyes,
 * non-square pixels, and the spherical metadata boxes, with the real network, ffmpeg and ffprobe.
 */
import { copyFile, readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DEFAULT_DREAM, dream, dreamGain } from '../src/dream/deepdream.js';
import { createImage, crop, cropWrapX, fromBytes, resize, roll, toBytes, type RgbImage } from '../src/dream/image.js';
import { layer } from '../src/dream/objectives.js';
import { gaussianBlur, NO_PRIORS, tvDescent } from '../src/dream/priors.js';
import { createRunner, type GradientRunner } from '../src/dream/runner.js';
import { tileGrid } from '../src/dream/tiles.js';
import { computeFlowPair } from '../src/flow/index.js';
import { probe } from '../src/media/probe.js';
import { ffmpegRun, ffprobeRun } from '../src/media/run.js';
import type { Frame } from '../src/frame.js';
import { DEFAULT_TEMPORAL, TemporalDreamStage } from '../src/temporal/stage.js';
import { checkEquirectAspect, panoramaSize } from '../src/vr/aspect.js';
import { cubeGeometryFor, cubemapToEquirect, equirectToCubemap, FACES } from '../src/vr/cubemap.js';
import { seamDreamStrength, seamProfile } from '../src/vr/equirect.js';
import { joinEyes, splitEyes } from '../src/vr/layout.js';
import { listTopLevelBoxes, readMoov } from '../src/vr/mp4.js';
import { outputMetadata, sphericalFromMoov, writeSphericalMetadata } from '../src/vr/spherical.js';
import { cubemapDreamer, VrStage } from '../src/vr/stage.js';
import { lastJson, runCli } from './helpers/cli.js';
import { KITE, loadRgb, makeClip, removeDir, SHARED_IMAGES, tempDir } from '../bench/fixtures/clips.js';

const EAGLE = join(SHARED_IMAGES, 'eagle.jpg');
/** Cheap dream settings for the CLI runs: the 360° machinery is under test, not the dream's depth. */
const FAST = ['--octaves', '1', '--iterations', '2', '--frame-iterations', '1', '--layer', 'inception_3b/output'];

/**
 * A 2:1 equirectangular test frame from a real photo, "cropped and wrapped": the middle 2:1
 * strip, rolled by half its width so the 0°/360° seam falls between two neighbouring columns of
 * the photo (a seamless panorama; the photo's own borders meet in the middle instead).
 */
async function panorama(path: string, width: number): Promise<RgbImage> {
  const photo = await loadRgb(path, width);
  const height = width / 2;
  const y0 = Math.floor((photo.height - height) / 2);
  const data = new Float32Array(width * height * 3);
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      const src = ((y0 + y) * width + ((x + width / 2) % width)) * 3;
      for (let c = 0; c < 3; c++) data[(y * width + x) * 3 + c] = photo.data[src + c]!;
    }
  }
  return createImage(width, height, data);
}

function asFrame(img: RgbImage, index = 0): Frame {
  return { index, ptsSeconds: index / 10, width: img.width, height: img.height, data: toBytes(img) };
}

function meanAbsDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let s = 0;
  for (let i = 0; i < a.length; i++) s += Math.abs(a[i]! - b[i]!);
  return s / a.length;
}

interface ProbedStream {
  codec_type: string;
  nb_frames?: string;
  r_frame_rate?: string;
  side_data_list?: Array<Record<string, string | number>>;
}

async function streams(path: string): Promise<ProbedStream[]> {
  const { stdout } = await ffprobeRun(['-v', 'error', '-show_streams', '-of', 'json', path]);
  return (JSON.parse(stdout.toString()) as { streams: ProbedStream[] }).streams;
}

function sideData(s: ProbedStream | undefined, type: string): Record<string, string | number> | undefined {
  return s?.side_data_list?.find((d) => d['side_data_type'] === type);
}

/** MD5 of one stream's packets, copied (not decoded): identical media bytes give identical sums. */
async function packetsMd5(path: string, stream: 'v' | 'a'): Promise<string> {
  const { stdout } = await ffmpegRun(['-i', path, '-map', `0:${stream}:0`, '-c', 'copy', '-f', 'md5', '-']);
  return stdout.toString().trim();
}

/** Every frame decodes with no error to the end; returns the count. */
async function decodedFrames(path: string): Promise<number> {
  const { stdout, stderr } = await ffmpegRun(['-v', 'error', '-i', path, '-map', '0:v:0', '-f', 'framemd5', '-']);
  expect(stderr.toString()).toBe('');
  return stdout.toString().split('\n').filter((l) => l && !l.startsWith('#')).length;
}

describe('wrap-around in longitude', () => {
  it('wrapped crops, tiles and the pyramid resize treat the left and right edges as neighbours', () => {
    const w = 40;
    const img = createImage(w, 6, Float32Array.from({ length: w * 6 * 3 }, (_, i) => (i * 37) % 251));
    // A crop hanging 5 columns over the left edge is the right edge's columns, then the image.
    expect(crop(cropWrapX(img, -5, 1, w + 10, 3), 0, 0, w, 3).data).toEqual(crop(roll(img, 5, 0), 0, 1, w, 3).data);
    expect(cropWrapX(img, -5, 1, 5, 3).data).toEqual(crop(img, w - 5, 1, 5, 3).data);
    // Upsampling a rolled panorama is the upsampled panorama rolled: no edge is special.
    const up = (x: RgbImage): RgbImage => resize(x, 2 * w, 12, { wrapX: true });
    expect(Array.from(up(roll(img, 7, 0)).data)).toEqual(Array.from(roll(up(img), 14, 0).data));
    // Clamped (flat) resizing is not: the seam columns are interpolated with themselves.
    const flat = (x: RgbImage): RgbImage => resize(x, 2 * w, 12);
    const flatDiff = flat(roll(img, 7, 0)).data.map((v, i) => Math.abs(v - roll(flat(img), 14, 0).data[i]!));
    expect(Math.max(...flatDiff)).toBeGreaterThan(10);
    // So do the smoothness priors: blur and total variation of a rolled panorama are the rolled ones.
    const maxDiff = (a: Float32Array, b: Float32Array): number => Math.max(...a.map((v, i) => Math.abs(v - b[i]!)));
    const blur = (x: RgbImage, wrapX: boolean): RgbImage => gaussianBlur(x, 2, wrapX);
    expect(maxDiff(blur(roll(img, 7, 0), true).data, roll(blur(img, true), 7, 0).data)).toBeLessThan(1e-3);
    expect(maxDiff(blur(roll(img, 7, 0), false).data, roll(blur(img, false), 7, 0).data)).toBeGreaterThan(10);
    const tv = (x: RgbImage): RgbImage => createImage(w, 6, tvDescent(x, 1, true));
    expect(maxDiff(tv(roll(img, 7, 0)).data, roll(tv(img), 7, 0).data)).toBeLessThan(1e-5);
    // Tiles of a panorama get their full context margin past both edges.
    const tiles = tileGrid(256, 128, { maxTile: 128, margin: 32, wrapX: true });
    expect(Math.min(...tiles.map((t) => t.view.x))).toBe(-32);
    expect(Math.max(...tiles.map((t) => t.view.x + t.view.width))).toBe(256 + 32);
    expect(tiles.every((t) => t.view.width === t.core.width + 64)).toBe(true);
  });

  it('optical flow follows motion across the 0°/360° seam', async () => {
    const pano = await panorama(EAGLE, 256);
    // The camera turns: every pixel moves 8 columns right, the last 8 re-entering on the left.
    const shift = 8;
    const a = asFrame(pano);
    const b = asFrame(roll(pano, shift, 0), 1);
    // Flow error of the columns that cross the seam (rows away from the poles).
    const crossingError = (u: Float32Array): number => {
      let s = 0;
      let n = 0;
      for (let y = 16; y < 112; y++) {
        for (let x = 256 - shift; x < 256; x++) {
          s += Math.abs(u[y * 256 + x]! - shift);
          n++;
        }
      }
      return s / n;
    };
    const wrappedError = crossingError((await computeFlowPair(a, b, { maxWidth: 256, wrapX: true })).forward.u);
    const flatError = crossingError((await computeFlowPair(a, b, { maxWidth: 256 })).forward.u);
    console.log(`flow error across the seam (px): wrapped ${wrappedError.toFixed(2)}, flat ${flatError.toFixed(2)}`);
    expect(wrappedError).toBeLessThan(0.1);
    expect(flatError).toBeGreaterThan(0.5);
  });
});

describe('dreaming a panorama', () => {
  let runner: GradientRunner;
  beforeAll(async () => {
    runner = await createRunner({ quiet: true });
  });
  afterAll(async () => {
    await runner.close();
  });

  /**
   * A dream with the blur prior on its detail: its hallucinations are smooth at the pixel scale,
   * so wherever they join up they add little to neighbouring-column differences, and a seam
   * between two unrelated dreams is what stands out. (The classic step also sharpens every edge,
   * which alone lifts neighbouring-column differences of a sky past 1.5x, seam or no seam.)
   */
  const SMOOTH = {
    ...DEFAULT_DREAM,
    octaves: 4,
    iterations: 10,
    step: 4,
    jitter: 8,
    seed: 0,
    priors: { ...NO_PRIORS, blur: 2, blurEnd: 1, blurTarget: 'image' as const },
  };
  const objective = layer('inception_4c/output');
  const fmt = (v: number[]): string => v.map((x) => x.toFixed(1)).join(' ');

  it('the seam check: wrapped, the output seam stays within 1.5x the input; the same dream without wrap-around fails it', async () => {
    const input = await panorama(KITE, 256);
    const wrapped = toBytes(await dream(runner, input, objective, { ...SMOOTH, wrapX: true }));
    const flat = toBytes(await dream(runner, input, objective, { ...SMOOTH, wrapX: false }));
    const seamIn = seamProfile(input, 4);
    const seamWrapped = seamProfile({ ...input, data: wrapped }, 4);
    const seamFlat = seamProfile({ ...input, data: flat }, 4);
    console.log(`seam |col d − col W−1−d|, d=0..3 (kite): input ${fmt(seamIn)}; wrapped ${fmt(seamWrapped)}; flat ${fmt(seamFlat)}`);
    // The check, on the edge columns and a few columns into each side.
    seamWrapped.forEach((v, d) => expect(v).toBeLessThanOrEqual(1.5 * seamIn[d]!));
    // Dreamed as a flat picture, the two sides of the seam get unrelated hallucinations.
    expect(seamFlat[0]!).toBeGreaterThan(1.5 * seamIn[0]!);
    expect(await dreamGain(runner, input, fromBytes(256, 128, wrapped), objective)).toBeGreaterThan(1.5);
  });

  it('a turning camera: the 360° stage keeps the seam closed frame after frame; the flat video stage opens it', async () => {
    const pano = await panorama(KITE, 256);
    const temporal = { ...DEFAULT_TEMPORAL, dream: SMOOTH };
    const vr = new VrStage(runner, objective, temporal);
    const flat = new TemporalDreamStage(runner, objective, temporal);
    const frames = 6;
    const sum = { input: [0, 0, 0, 0], wrapped: [0, 0, 0, 0], flat: [0, 0, 0, 0] };
    const accumulate = (into: number[], profile: number[]): void => profile.forEach((v, d) => (into[d] = into[d]! + v / frames));
    for (let t = 0; t < frames; t++) {
      // 4 columns (5.6°) of yaw per frame: content crosses the seam and the dream is carried over it.
      const frame = asFrame(roll(pano, 4 * t, 0), t);
      accumulate(sum.input, seamProfile(frame, 4));
      accumulate(sum.wrapped, seamProfile(await vr.process(frame), 4));
      accumulate(sum.flat, seamProfile(await flat.process(frame), 4));
    }
    console.log(`seam over ${frames} turning frames, d=0..3: input ${fmt(sum.input)}; 360° stage ${fmt(sum.wrapped)}; flat stage ${fmt(sum.flat)}`);
    sum.wrapped.forEach((v, d) => expect(v).toBeLessThanOrEqual(1.5 * sum.input[d]!));
    expect(sum.flat[0]!).toBeGreaterThan(1.5 * sum.input[0]!);
  });

  it('the classic dream: wrapped, no seam at 0°/360°; flat, it fades out there', async () => {
    const input = await panorama(EAGLE, 256);
    // Jitter in proportion to the frame as 32 px is to a 3840-wide panorama, and a step gentle
    // enough that the classic step's general sharpening stays below the 1.5x the seam check allows.
    const settings = { ...DEFAULT_DREAM, octaves: 3, iterations: 10, step: 1, jitter: 2, seed: 0 };
    const wrapped = await dream(runner, input, objective, { ...settings, wrapX: true });
    const flat = await dream(runner, input, objective, { ...settings, wrapX: false });
    const seamIn = seamProfile(input, 4);
    const seamWrapped = seamProfile({ ...input, data: toBytes(wrapped) }, 4);
    const seamFlat = seamProfile({ ...input, data: toBytes(flat) }, 4);
    const strengthWrapped = seamDreamStrength(input, wrapped, 2);
    const strengthFlat = seamDreamStrength(input, flat, 2);
    console.log(
      `classic dream, seam d=0..3 (eagle): input ${fmt(seamIn)}; wrapped ${fmt(seamWrapped)}; flat ${fmt(seamFlat)}. ` +
        `dream strength at the seam / mean: wrapped ${strengthWrapped.toFixed(2)}, flat ${strengthFlat.toFixed(2)}`,
    );
    seamWrapped.forEach((v, d) => expect(v).toBeLessThanOrEqual(1.5 * seamIn[d]!));
    // This gentle flat dream hardly opens the seam (both sides fade towards the photo), but the
    // fading is its own defect: the wrapped dream reaches the seam as strongly as anywhere, the
    // flat one fades towards its borders (zero padding), a dull stripe at the back of the sphere.
    expect(strengthWrapped).toBeGreaterThan(0.9);
    expect(strengthFlat).toBeLessThan(0.8 * strengthWrapped);
    expect(await dreamGain(runner, input, wrapped, objective)).toBeGreaterThan(1.5);
  });

  it('stereo: the right eye gets the left eye’s hallucinations at their disparity', async () => {
    const left = await panorama(EAGLE, 128);
    const disparity = 3;
    const right = roll(left, disparity, 0);
    const frame = joinEyes(asFrame(left), asFrame(right), 'top-bottom');
    const temporal = { ...DEFAULT_TEMPORAL, dream: { ...DEFAULT_DREAM, octaves: 2, iterations: 8, seed: 1 } };
    const stage = new VrStage(runner, layer('inception_4c/output'), temporal, { projection: 'equirect', stereo: 'top-bottom', eyeIterations: 2 });
    const [leftOut, rightOut] = splitEyes(await stage.process(frame), 'top-bottom');
    // Two unrelated dreams of the eyes (what dreaming a stereo frame eye by eye gives).
    const eye = (seed: number): VrStage =>
      new VrStage(runner, layer('inception_4c/output'), { ...temporal, dream: { ...temporal.dream, seed } }, { projection: 'equirect', stereo: 'mono', eyeIterations: 0 });
    const leftAlone = await eye(1).process(asFrame(left));
    const rightAlone = await eye(2).process(asFrame(right));

    const shifted = (f: Frame): Float32Array => roll(createImage(f.width, f.height, Float32Array.from(f.data)), disparity, 0).data;
    const stereoMismatch = meanAbsDiff(rightOut.data, shifted(leftOut));
    const unrelatedMismatch = meanAbsDiff(rightAlone.data, shifted(leftAlone));
    const rightDreamed = meanAbsDiff(rightOut.data, toBytes(right));
    console.log(`eyes: mismatch carried ${stereoMismatch.toFixed(2)} vs unrelated dreams ${unrelatedMismatch.toFixed(2)}; right eye dreamed by ${rightDreamed.toFixed(2)} grey levels; carried share ${stage.lastReport?.eyeCarried?.toFixed(2)}`);
    expect(rightDreamed).toBeGreaterThan(3);
    expect(stereoMismatch).toBeLessThan(0.5 * unrelatedMismatch);
    expect(stage.lastReport?.eyeCarried).toBeGreaterThan(0.8);
  });
});

describe('cubemap', () => {
  it('equirect → six faces → equirect reproduces a real panorama within 1.5 % mean absolute error', async () => {
    const input = await panorama(EAGLE, 256);
    const mae = (oversample: number): number => {
      const geometry = cubeGeometryFor(input.width, oversample);
      const faces = equirectToCubemap(input, geometry);
      expect(faces).toHaveLength(6);
      expect(faces.every((f) => f.width === geometry.face + 2 * geometry.overlap && f.height === f.width)).toBe(true);
      return meanAbsDiff(cubemapToEquirect(faces, input.width, input.height, geometry).data, input.data) / 255;
    };
    // Faces of half the frame's width (oversample π/2): the poles' detail mostly survives.
    const fine = mae(Math.PI / 2);
    // The dreaming geometry (equator resolution) loses more at the poles; reported, not a limit.
    const dreaming = mae(1);
    console.log(`cubemap round trip at 256x128: MAE ${(100 * fine).toFixed(2)} % with 128 px faces, ${(100 * dreaming).toFixed(2)} % with the dreaming faces`);
    expect(fine).toBeLessThan(0.015);
    expect(dreaming).toBeGreaterThan(fine);
  });

  it('dreaming through the cubemap with no steps gives the input back exactly (only the dream is reprojected)', async () => {
    const input = await panorama(EAGLE, 128);
    const runner = await createRunner({ quiet: true, workers: 0 });
    try {
      const out = await cubemapDreamer(runner)(input, layer('inception_3b/output'), { ...DEFAULT_DREAM, octaves: 1, iterations: 0 });
      expect(meanAbsDiff(out.data, input.data)).toBe(0);
    } finally {
      await runner.close();
    }
  });

  it('each face looks where it should', () => {
    // Colour = direction: red grows with longitude, green with latitude.
    const w = 256;
    const h = 128;
    const data = new Float32Array(w * h * 3);
    for (let y = 0; y < h; y++) for (let x = 0; x < w; x++) data.set([(x + 0.5) * (255 / w), 255 - (y + 0.5) * (255 / h), 0], (y * w + x) * 3);
    const g = cubeGeometryFor(w);
    const faces = equirectToCubemap(createImage(w, h, data), g);
    const centre = (i: number): [number, number] => {
      const side = faces[i]!.width;
      const c = ((side / 2) * side + side / 2) * 3;
      return [faces[i]!.data[c]!, faces[i]!.data[c + 1]!];
    };
    const at = (name: string): [number, number] => centre(FACES.findIndex((f) => f.name === name));
    // Longitude 0 is the frame's centre column, +90° three quarters across, ±180° the edges.
    expect(at('front')[0]).toBeCloseTo(127.5, -1);
    expect(at('right')[0]).toBeCloseTo(191, -1);
    expect(at('left')[0]).toBeCloseTo(64, -1);
    expect(at('front')[1]).toBeCloseTo(127.5, -1);
    expect(at('up')[1]).toBeGreaterThan(250);
    expect(at('down')[1]).toBeLessThan(5);
  });
});

describe('frame geometry', () => {
  it('accepts 2:1 per eye once the pixel aspect is applied, resamples to square pixels, refuses the rest', () => {
    const sar = (num: number, den: number) => ({ num, den });
    // 1920x1080 with 9:8 pixels is shown 2160x1080: a 2:1 panorama, resampled keeping its height.
    expect(() => checkEquirectAspect('in.mp4', { width: 1920, height: 1080, sampleAspectRatio: sar(9, 8) }, 'mono')).not.toThrow();
    expect(panoramaSize({ width: 1920, height: 1080, sampleAspectRatio: sar(9, 8) }, 'mono')).toEqual({ width: 2160, height: 1080 });
    expect(panoramaSize({ width: 3840, height: 3840, sampleAspectRatio: sar(1, 1) }, 'top-bottom', { fit: 1024 })).toEqual({ width: 1024, height: 1024 });
    expect(panoramaSize({ width: 3840, height: 1920, sampleAspectRatio: sar(1, 1) }, 'mono', { fit: 1000 })).toEqual({ width: 1000, height: 500 });
    expect(() => checkEquirectAspect('in.mp4', { width: 1920, height: 1080, sampleAspectRatio: sar(1, 1) }, 'mono')).toThrow(/1\.78:1.*not an equirectangular/);
    expect(() => checkEquirectAspect('in.mp4', { width: 2048, height: 2048, sampleAspectRatio: sar(1, 1) }, 'mono')).toThrow(/--stereo top-bottom/);
    expect(() => panoramaSize({ width: 3840, height: 1920, sampleAspectRatio: sar(1, 1) }, 'mono', { width: 1000, height: 600 })).toThrow(/not 2:1/);
  });
});

describe('spherical metadata boxes', () => {
  let dir: string;
  beforeAll(async () => {
    dir = await tempDir();
  });
  afterAll(async () => {
    await removeDir(dir);
  });

  for (const faststart of [false, true]) {
    it(`are added to an MP4 with its index ${faststart ? 'first (+faststart: chunk offsets moved)' : 'last'}, the media untouched`, async () => {
      const plain = await makeClip({ width: 128, height: 128, fps: 10, seconds: 1, audio: true, dir, faststart, name: `plain-${faststart}.mp4` });
      const marked = join(dir, `marked-${faststart}.mp4`);
      await copyFile(plain, marked);
      const meta = { ...outputMetadata('top-bottom', undefined), pose: { yaw: 30, pitch: -10, roll: 0 }, extraV1: [{ name: 'InitialViewHeadingDegrees', value: '90' }] };
      await writeSphericalMetadata(marked, meta);

      const order = (await listTopLevelBoxes(marked)).map((b) => b.type).filter((t) => t === 'moov' || t === 'mdat');
      expect(order).toEqual(faststart ? ['moov', 'mdat'] : ['mdat', 'moov']);
      const [video] = await streams(marked);
      expect(sideData(video, 'Spherical Mapping')).toMatchObject({ projection: 'equirectangular', yaw: 30, pitch: -10, roll: 0 });
      expect(sideData(video, 'Stereo 3D')).toMatchObject({ type: 'top and bottom' });
      // Same packets, so every chunk offset still points at its own bytes; plays to the end.
      expect(await packetsMd5(marked, 'v')).toBe(await packetsMd5(plain, 'v'));
      expect(await packetsMd5(marked, 'a')).toBe(await packetsMd5(plain, 'a'));
      expect(await decodedFrames(marked)).toBe(10);
      // Read back: V2 boxes and the V1 XML (with the kept extra element).
      const back = sphericalFromMoov((await readMoov(marked))!);
      expect(back).toMatchObject({ projection: 'equirectangular', stereo: 'top-bottom', pose: { yaw: 30, pitch: -10, roll: 0 }, extraV1: [{ name: 'InitialViewHeadingDegrees', value: '90' }] });
      // Writing again replaces the boxes instead of adding a second set.
      await writeSphericalMetadata(marked, outputMetadata('mono', undefined));
      const moov = (await readMoov(marked))!;
      expect(sphericalFromMoov(moov)).toMatchObject({ stereo: 'mono', pose: { yaw: 0 } });
      const uuids = JSON.stringify(moov).match(/"type":"uuid"/g) ?? [];
      expect(uuids).toHaveLength(1);
    });
  }
});

describe('dreamflow vr', () => {
  let dir: string;
  beforeAll(async () => {
    dir = await tempDir();
  });
  afterAll(async () => {
    await removeDir(dir);
  });

  it('mono: every frame, the exact rate and the sound kept, 360° metadata (kept from the input) with the index first', async () => {
    const clip = await makeClip({ pattern: 'mandelbrot', width: 128, height: 64, fps: '30000/1001', seconds: 0.5, audio: true, dir, name: 'pano.mp4' });
    // The input already says where "forward" is: the output must keep it.
    await writeSphericalMetadata(clip, { ...outputMetadata('mono', undefined), pose: { yaw: 45, pitch: 0, roll: 0 } });
    const out = join(dir, 'pano-dreamed.mp4');
    const r = await runCli(['vr', clip, '-o', out, ...FAST, '--json']);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    const result = lastJson<{ frames: number; frameRate: string; dreamGain: number; stereo: string; projection: string }>(r.stdout);
    const [inInfo, outInfo] = [await probe(clip), await probe(out)];
    expect(result.frames).toBe(inInfo.frameCount);
    expect(await decodedFrames(out)).toBe(inInfo.frameCount);
    expect(outInfo.fps).toEqual({ num: 30000, den: 1001 });
    expect(outInfo.hasAudio).toBe(true);
    expect(Math.abs(outInfo.audio!.durationSeconds! - inInfo.audio!.durationSeconds!)).toBeLessThan(0.1);
    expect([outInfo.width, outInfo.height]).toEqual([128, 64]);
    expect(result.dreamGain).toBeGreaterThan(1.02);
    const [video] = await streams(out);
    expect(sideData(video, 'Spherical Mapping')).toMatchObject({ projection: 'equirectangular', yaw: 45 });
    expect(sideData(video, 'Stereo 3D')).toMatchObject({ type: '2D' });
    const order = (await listTopLevelBoxes(out)).map((b) => b.type).filter((t) => t === 'moov' || t === 'mdat');
    expect(order).toEqual(['moov', 'mdat']);
    expect((await readdir(dir)).sort()).toEqual(['pano-dreamed.mp4', 'pano.mp4']);
  });

  it('stereo top-bottom with 16:15 pixels, dreamed on cube faces, index last: square 2:1 eyes and stereo metadata', async () => {
    // Stored 120x128 with 16:15 pixels = shown 128x128 = two 2:1 eyes stacked.
    const clip = join(dir, 'stereo.mp4');
    await ffmpegRun([
      '-f', 'lavfi', '-i', 'testsrc2=size=120x128:rate=10', '-f', 'lavfi', '-i', 'sine=frequency=440:sample_rate=44100',
      '-t', '0.5', '-map', '0:v', '-map', '1:a', '-vf', 'setsar=16/15', '-c:v', 'libx264', '-preset', 'veryfast', '-pix_fmt', 'yuv420p', '-c:a', 'aac', clip,
    ]);
    expect((await probe(clip)).sampleAspectRatio).toEqual({ num: 16, den: 15 });
    const out = join(dir, 'stereo-dreamed.mp4');
    const r = await runCli(['vr', clip, '-o', out, '--stereo', 'top-bottom', '--projection', 'cubemap', '--no-faststart', ...FAST, '--json']);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    const outInfo = await probe(out);
    expect([outInfo.width, outInfo.height]).toEqual([128, 128]);
    expect(outInfo.sampleAspectRatio).toEqual({ num: 1, den: 1 });
    expect(await decodedFrames(out)).toBe(5);
    expect(outInfo.hasAudio).toBe(true);
    const [video] = await streams(out);
    expect(sideData(video, 'Stereo 3D')).toMatchObject({ type: 'top and bottom' });
    expect(sideData(video, 'Spherical Mapping')).toMatchObject({ projection: 'equirectangular' });
    const order = (await listTopLevelBoxes(out)).map((b) => b.type).filter((t) => t === 'moov' || t === 'mdat');
    expect(order).toEqual(['mdat', 'moov']);
  });

  it('refuses what is not a 2:1 panorama per eye, and outputs that cannot carry the metadata, in one line', async () => {
    const flat = await makeClip({ width: 96, height: 64, fps: 10, seconds: 0.3, dir, name: 'flat.mp4' });
    const out = join(dir, 'never.mp4');
    const wrongShape = await runCli(['vr', flat, '-o', out]);
    expect(wrongShape.code).toBe(2);
    expect(wrongShape.stderr.trim().split('\n')).toHaveLength(1);
    expect(wrongShape.stderr).toMatch(/96x64 is 1\.50:1, not an equirectangular 360° picture \(2:1 per eye\)/);
    const wrongStereo = await runCli(['vr', join(dir, 'pano.mp4'), '-o', out, '--stereo', 'top-bottom']);
    expect(wrongStereo.code).toBe(2);
    expect(wrongStereo.stderr).toMatch(/4\.00:1 per eye \(top-bottom\)/);
    const mkv = await runCli(['vr', join(dir, 'pano.mp4'), '-o', join(dir, 'x.mkv')]);
    expect(mkv.code).toBe(2);
    expect(mkv.stderr).toMatch(/must be \.mp4, \.m4v or \.mov/);
    const badProjection = await runCli(['vr', join(dir, 'pano.mp4'), '-o', out, '--projection', 'fisheye']);
    expect(badProjection.stderr).toMatch(/--projection must be one of equirect, cubemap/);
    expect((await readdir(dir)).filter((f) => f.startsWith('never') || f.startsWith('x.'))).toEqual([]);
  });
});

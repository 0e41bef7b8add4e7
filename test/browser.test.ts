/**
 * The viewer page in a real headless Chromium (Debian's `chromium` driven by playwright-core):
 * it shows the dreamed stream, and with "share my camera" (Chromium's fake camera) the
 * browser's own frames go to the server and come back dreamed.
 */
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { chromium, type BrowserContext, type Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { layer } from '../src/dream/objectives.js';
import { createRunner, type GradientRunner } from '../src/dream/runner.js';
import { LIVE_DREAM, LIVE_TEMPORAL } from '../src/pipeline/liveDefaults.js';
import { startLive, type LiveSession } from '../src/pipeline/liveSession.js';
import { healthz, preloadOpenCv, waitFor } from './helpers/live.js';

const CHROMIUM = process.env.CHROMIUM_PATH || '/usr/bin/chromium';

interface PageState {
  frames: number;
  drawn?: number;
  ownFrames: number;
  cameraSent: number;
  cameraAcked: number;
  latencyMs: number | null;
  glassMs: number | null;
  errors: string[];
}

/** Mean, spread and a checksum of the canvas pixels (read in the page). */
function canvasSummary(page: Page): Promise<{ width: number; height: number; mean: number; std: number; sum: number }> {
  return page.evaluate(() => {
    const c = document.getElementById('view') as HTMLCanvasElement;
    const d = c.getContext('2d')!.getImageData(0, 0, c.width, c.height).data;
    let s = 0;
    let s2 = 0;
    let sum = 0;
    let n = 0;
    for (let i = 0; i < d.length; i += 4) {
      for (let k = 0; k < 3; k++) {
        const v = d[i + k]!;
        s += v;
        s2 += v * v;
        sum = (sum * 31 + v * (i + k + 1)) % 1_000_000_007;
        n++;
      }
    }
    const mean = s / n;
    return { width: c.width, height: c.height, mean, std: Math.sqrt(Math.max(0, s2 / n - mean * mean)), sum };
  });
}

function pageState(page: Page): Promise<PageState> {
  return page.evaluate(() => (window as unknown as { dreamflow: PageState }).dreamflow);
}

describe('viewer page in headless Chromium', () => {
  let runner: GradientRunner | undefined;
  let session: LiveSession | undefined;
  let context: BrowserContext | undefined;
  let profile: string | undefined;

  beforeAll(async () => {
    // Fail, never skip: the browser test is part of the definition of done.
    if (!existsSync(CHROMIUM)) {
      throw new Error(`Chromium not found at ${CHROMIUM}: install it (apt-get install -y chromium) or set CHROMIUM_PATH`);
    }
    preloadOpenCv();
    runner = await createRunner({ backend: 'onnx', workers: 1, quiet: true });
    session = await startLive({
      input: 'lavfi:testsrc2',
      size: { width: 128, height: 96 },
      fps: 8,
      port: 0,
      runner,
      objective: layer(runner.layerName('inception_3b/output')),
      temporal: { ...LIVE_TEMPORAL, dream: { ...LIVE_DREAM, octaves: 1, iterations: 2 }, frameIterations: 1 },
      adaptive: false,
      gainEverySeconds: 1,
      onWarning: () => undefined,
    });
    profile = mkdtempSync(join(tmpdir(), 'dreamflow-chromium-'));
    context = await chromium.launchPersistentContext(profile, {
      executablePath: CHROMIUM,
      headless: true,
      args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking', '--use-fake-device-for-media-stream', '--use-fake-ui-for-media-stream'],
    });
  });

  afterAll(async () => {
    await context?.close();
    await session?.close();
    await runner?.close();
    if (profile) rmSync(profile, { recursive: true, force: true });
  });

  it('shows changing, non-blank dreamed frames, and dreams the shared camera', async () => {
    const page = context!.pages()[0] ?? (await context!.newPage());
    const problems: string[] = [];
    page.on('pageerror', (e) => problems.push(e.message));
    page.on('console', (m) => {
      if (m.type() === 'error') problems.push(m.text());
    });
    await page.goto(session!.url);
    await page.waitForFunction(() => ((window as unknown as { dreamflow: PageState }).dreamflow.drawn ?? 0) >= 5, undefined, { timeout: 60_000 });

    const first = await canvasSummary(page);
    expect([first.width, first.height]).toEqual([128, 96]);
    expect(first.std).toBeGreaterThan(10);
    await page.waitForTimeout(1000);
    const second = await canvasSummary(page);
    expect(second.std).toBeGreaterThan(10);
    expect(second.sum).not.toBe(first.sum);
    const watching = await pageState(page);
    expect(watching.latencyMs).not.toBeNull();
    expect(watching.latencyMs!).toBeLessThan(2000);
    await expect.poll(() => page.textContent('#stats'), { timeout: 5000 }).toMatch(/fps · latency \d+ ms/);
    // The HUD shows the controller's level and where each frame's time goes; /stats has the same.
    await expect.poll(() => page.textContent('#level'), { timeout: 5000 }).toMatch(/^level \d+: \d+ step\(s\) at \d+×\d+$/);
    await expect.poll(() => page.textContent('#profile'), { timeout: 5000 }).toMatch(/^frame \d+ ms: .*flow \d+ · warp \d+ · dream \d+ .*encode \d+ · send \d+/);
    const stats = (await (await fetch(new URL('stats', session!.url))).json()) as { profile: Record<string, { meanMs: number }>; level: { iterations: number }; floor: { minSteps: number } };
    for (const phase of ['capture+queue', 'flow', 'warp', 'dream', 'encode', 'send']) expect(stats.profile[phase]?.meanMs, phase).toBeGreaterThanOrEqual(0);
    expect(stats.floor.minSteps).toBe(1);
    expect(stats.level.iterations).toBeGreaterThanOrEqual(1);

    // Share the (fake) camera: its frames replace the synthetic source and come back dreamed.
    await page.locator('#share').click();
    await page.waitForFunction(() => (window as unknown as { dreamflow: PageState }).dreamflow.ownFrames >= 5, undefined, { timeout: 60_000 });
    const sharing = await pageState(page);
    expect(sharing.cameraAcked).toBeGreaterThan(0);
    // At most two pictures in flight: sent − acknowledged stays small.
    expect(sharing.cameraSent - sharing.cameraAcked).toBeLessThanOrEqual(2);
    expect(sharing.glassMs).not.toBeNull();
    expect(sharing.glassMs!).toBeLessThan(2000);
    await waitFor(async () => (await healthz(session!.url)).gain?.browser !== undefined, 30_000, 'a dream gain for the camera frames');
    const h = await healthz(session!.url);
    expect(h.camera.frames).toBeGreaterThan(0);
    expect(h.preempted).toBeGreaterThan(0);
    expect(h.gain.browser).toBeGreaterThan(1);
    const shared = await canvasSummary(page);
    expect(shared.std).toBeGreaterThan(5);
    expect(problems).toEqual([]);
  });
});

/**
 * The clean view, the HUD key and the browser-camera page's guidance in a real headless
 * Chromium (Debian's `chromium` driven by playwright-core, as test/browser.test.ts does).
 */
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { chromium, type BrowserContext } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { layer } from '../src/dream/objectives.js';
import { createRunner, type GradientRunner } from '../src/dream/runner.js';
import { LIVE_DREAM, LIVE_TEMPORAL } from '../src/pipeline/liveDefaults.js';
import { startLive, type LiveOptions, type LiveSession } from '../src/pipeline/liveSession.js';
import { preloadOpenCv } from './helpers/live.js';

const CHROMIUM = process.env.CHROMIUM_PATH || '/usr/bin/chromium';
const CHEAP = { ...LIVE_TEMPORAL, dream: { ...LIVE_DREAM, octaves: 1, iterations: 2 }, frameIterations: 1 };

describe('the feed in headless Chromium: clean view, HUD key, camera guidance', () => {
  let runner: GradientRunner | undefined;
  let session: LiveSession | undefined;
  let cameraSession: LiveSession | undefined;
  let context: BrowserContext | undefined;
  let profile: string | undefined;

  beforeAll(async () => {
    if (!existsSync(CHROMIUM)) throw new Error(`Chromium not found at ${CHROMIUM}: install it (apt-get install -y chromium) or set CHROMIUM_PATH`);
    preloadOpenCv();
    runner = await createRunner({ backend: 'onnx', workers: 1, quiet: true });
    const common: Omit<LiveOptions, 'input'> = {
      size: { width: 96, height: 64 },
      fps: 5,
      port: 0,
      runner,
      objective: layer(runner.layerName('inception_3b/output')),
      temporal: CHEAP,
      adaptive: false,
      gainEverySeconds: 0,
      onWarning: () => undefined,
    };
    session = await startLive({ ...common, input: 'lavfi:testsrc2' });
    cameraSession = await startLive({ ...common, input: 'browser' });
    profile = mkdtempSync(join(tmpdir(), 'dreamflow-chromium-'));
    context = await chromium.launchPersistentContext(profile, {
      executablePath: CHROMIUM,
      headless: true,
      viewport: { width: 640, height: 360 },
      args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking', '--use-fake-device-for-media-stream', '--use-fake-ui-for-media-stream'],
    });
  });

  afterAll(async () => {
    await context?.close();
    await session?.close();
    await cameraSession?.close();
    await runner?.close();
    if (profile) rmSync(profile, { recursive: true, force: true });
  });

  it('/view and /?view=clean: only the picture, filling the window, no HUD or controls in the DOM', async () => {
    for (const path of ['view', '?view=clean']) {
      const page = await context!.newPage();
      await page.goto(session!.url + path);
      // The MJPEG stream has delivered frames of the live size.
      await page.waitForFunction(() => {
        const img = document.getElementById('view') as HTMLImageElement | null;
        return !!img && img.naturalWidth === 96 && img.naturalHeight === 64;
      }, undefined, { timeout: 30_000 });
      const dom = await page.evaluate(() => ({
        tags: Array.from(document.body.querySelectorAll('*'), (e) => e.tagName.toLowerCase()),
        controls: document.querySelectorAll('button, input, select, label, output, #bar, #stats, #level, #profile, #hint').length,
        text: document.body.innerText.trim(),
      }));
      expect(dom.tags).toEqual(['img', 'script']);
      expect(dom.controls).toBe(0);
      expect(dom.text).toBe('');
      const box = await page.locator('#view').boundingBox();
      expect(box).toEqual({ x: 0, y: 0, width: 640, height: 360 });
      // Non-blank dreamed pixels (same origin, so the picture can be read back).
      const std = await page.evaluate(() => {
        const img = document.getElementById('view') as HTMLImageElement;
        const c = document.createElement('canvas');
        c.width = img.naturalWidth;
        c.height = img.naturalHeight;
        const g = c.getContext('2d')!;
        g.drawImage(img, 0, 0);
        const d = g.getImageData(0, 0, c.width, c.height).data;
        let s = 0;
        let s2 = 0;
        for (let i = 0; i < d.length; i += 4) (s += d[i]!), (s2 += d[i]! * d[i]!);
        const n = d.length / 4;
        return Math.sqrt(s2 / n - (s / n) ** 2);
      });
      expect(std).toBeGreaterThan(10);
      await page.close();
    }
  });

  it('`h` hides the HUD and controls on the normal page, and shows them again', async () => {
    const page = await context!.newPage();
    await page.goto(session!.url);
    await page.waitForFunction(() => ((window as unknown as { dreamflow: { drawn?: number } }).dreamflow.drawn ?? 0) >= 2, undefined, { timeout: 30_000 });
    await expect.poll(() => page.isVisible('#bar')).toBe(true);
    await page.keyboard.press('h');
    expect(await page.isVisible('#bar')).toBe(false);
    expect(await page.isVisible('#stats')).toBe(false);
    await page.keyboard.press('h');
    expect(await page.isVisible('#bar')).toBe(true);
    await page.close();
  });

  it('--input browser: before a camera is shared the page says what to do; after, the dream replaces the text', async () => {
    const page = await context!.newPage();
    await page.goto(cameraSession!.url);
    await expect.poll(() => page.textContent('#hint'), { timeout: 10_000 }).toMatch(/dreams your camera\. Press “share my camera” below and allow the camera/);
    expect(await page.isVisible('#hint')).toBe(true);
    await page.waitForTimeout(1200);
    // Not "0.0 fps … at 0×0".
    expect(await page.textContent('#stats')).toBe('waiting for a picture');
    expect(await page.textContent('#level')).not.toMatch(/0×0/);
    await page.locator('#share').click();
    await page.waitForFunction(() => (window as unknown as { dreamflow: { ownFrames: number } }).dreamflow.ownFrames >= 3, undefined, { timeout: 60_000 });
    await expect.poll(() => page.isVisible('#hint'), { timeout: 5000 }).toBe(false);
    await expect.poll(() => page.textContent('#stats'), { timeout: 5000 }).toMatch(/fps · latency \d+ ms/);
    await page.close();
  });

  it('when the frame rate caps the steps, the HUD says so and what to do', async () => {
    // Three steps asked for, one level of one step available: what a slow machine's controller does.
    const capped = await startLive({
      input: 'lavfi:testsrc2',
      size: { width: 96, height: 64 },
      fps: 5,
      port: 0,
      runner: runner!,
      objective: layer(runner!.layerName('inception_3b/output')),
      temporal: { ...CHEAP, frameIterations: 3 },
      levels: [{ iterations: 1, scale: 1 }],
      adaptive: false,
      gainEverySeconds: 0,
      onWarning: () => undefined,
    });
    try {
      const page = await context!.newPage();
      await page.goto(capped.url);
      await expect.poll(() => page.textContent('#level'), { timeout: 15_000 }).toMatch(/^level 0: 1 step\(s\) at 96×64 · frame rate allows 1 of 3 step\(s\): lower --fps or --size for more$/);
      await page.close();
    } finally {
      await capped.close();
    }
  });
});

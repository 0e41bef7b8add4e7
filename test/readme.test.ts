/**
 * The README's command blocks (```sh) do what they say: a block either runs here, every line a
 * `npx dreamflow …` command on the committed samples (run at a tiny size: the flags below are
 * appended, later flags winning), or it starts with a `# needs: …` line naming what a test machine
 * lacks (a GPU, Docker, the internet, other machines). Every preset command of every block, marked
 * or not, must parse: its flags make a pipeline (what --print-config prints).
 */
import { existsSync, readFileSync, symlinkSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { removeDir } from '../bench/fixtures/clips.js';
import { takePreview } from '../src/cli/preset.js';
import { COMMAND_LAYOUTS, specFromArgs, type PresetCommand } from '../src/pipeline/spec.js';
import { runCli } from './helpers/cli.js';
import { ROOT, tempDir } from './helpers/paths.js';

/** Appended to each command that runs: a small, quick dream (README commands use full sizes). */
const TINY: Record<string, string[]> = {
  image: ['--size', '64', '--octaves', '1', '--iterations', '1'],
  video: ['--size', '64', '--octaves', '1', '--iterations', '1', '--frame-iterations', '1', '-t', '0.5'],
  sweep: ['--size', '64', '--octaves', '1', '--iterations', '1'],
  zoom: ['--size', '64', '--octaves', '1', '--iterations', '1', '--frame-iterations', '1', '--duration', '0.5', '--fps', '4'],
};

/** A shell line's words (single and double quotes, backslash escapes), its trailing comment dropped. */
export function shellWords(line: string): string[] {
  const words: string[] = [];
  let word: string | undefined;
  let quote: string | undefined;
  for (let i = 0; i < line.length; i++) {
    const c = line[i]!;
    if (quote) {
      if (c === quote) quote = undefined;
      else word = (word ?? '') + c;
    } else if (c === "'" || c === '"') {
      quote = c;
      word ??= '';
    } else if (c === '\\' && i + 1 < line.length) word = (word ?? '') + line[++i];
    else if (/\s/.test(c)) {
      if (word !== undefined) words.push(word);
      word = undefined;
    } else if (c === '#' && word === undefined) break;
    else word = (word ?? '') + c;
  }
  if (word !== undefined) words.push(word);
  return words;
}

interface Block {
  /** The `# needs: …` reason, when the block does not run here. */
  needs: string | undefined;
  /** Each command's words (continued lines joined). */
  commands: string[][];
}

function readmeBlocks(): Block[] {
  const readme = readFileSync(join(ROOT, 'README.md'), 'utf8');
  return [...readme.matchAll(/^```sh\n([\s\S]*?)^```/gm)].map((m) => {
    const text = m[1]!.replace(/\\\n/g, ' ');
    const needs = /^# needs: (.+)$/m.exec(text)?.[1];
    const commands = text.split('\n').map(shellWords).filter((w) => w.length > 0);
    return { needs, commands };
  });
}

const isDreamflow = (words: string[]): boolean => words[0] === 'npx' && words[1] === 'dreamflow';

describe('README command blocks', () => {
  const blocks = readmeBlocks();

  it('are either dreamflow commands that run here or marked with what they need', () => {
    expect(blocks.length).toBeGreaterThanOrEqual(5);
    for (const block of blocks) {
      if (block.needs !== undefined) expect(block.needs.length, 'a reason').toBeGreaterThan(8);
      else for (const words of block.commands) expect(isDreamflow(words), words.join(' ')).toBe(true);
    }
    expect(blocks.filter((b) => b.needs === undefined).length).toBeGreaterThanOrEqual(2);
  });

  it('every preset command parses into a pipeline (what --print-config prints)', () => {
    let checked = 0;
    for (const block of blocks) {
      for (const words of block.commands) {
        const at = words.indexOf('dreamflow');
        const command = words[at + 1];
        if (at < 0 || command === undefined || !(command in COMMAND_LAYOUTS)) continue;
        // A shell variable ($TOKEN) stands for a value the user sets.
        const { rest } = takePreview(words.slice(at + 2).map((w) => w.replace(/\$\{?\w+\}?/g, 'a-value-set-by-the-user')));
        expect(() => specFromArgs(command as PresetCommand, rest), words.join(' ')).not.toThrow();
        checked++;
      }
    }
    expect(checked).toBeGreaterThanOrEqual(6);
  });

  describe('the unmarked blocks, run on the samples at a tiny size', () => {
    let dir: string;
    beforeAll(() => {
      dir = tempDir();
      symlinkSync(join(ROOT, 'samples'), join(dir, 'samples'));
    });
    afterAll(() => removeDir(dir));
    const runnable = blocks.filter((b) => b.needs === undefined).flatMap((b) => b.commands);

    it.each(runnable.map((words) => [words.slice(2).join(' '), words] as const))('%s', async (_, words) => {
      const [command, ...args] = words.slice(2) as [string, ...string[]];
      if (command === 'live') {
        // Runs until Ctrl-C (test/live.test.ts runs it); here: its flags make a live pipeline.
        const r = await runCli([command, ...args, '--print-config'], { cwd: dir });
        expect(r.code, r.stderr).toBe(0);
        expect(JSON.parse(r.stdout)).toMatchObject({ source: { kind: 'live' } });
        return;
      }
      const tiny = TINY[command];
      expect(tiny, `a tiny size for ${command}`).toBeDefined();
      const r = await runCli([command, ...args, ...tiny!, '--quiet'], { cwd: dir });
      expect(r.code, r.stderr).toBe(0);
      const output = args[args.indexOf('-o') + 1]!;
      expect(existsSync(join(dir, output)), output).toBe(true);
    });
  });
});

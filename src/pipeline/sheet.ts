/**
 * Labelled contact sheets (layers --gallery, video --preview): pictures in a grid, each with a
 * caption under it, and notes under the whole sheet. Captions wrap inside their cell instead of
 * being cut (a layer name such as inception_3b/5x5_reduce is wider than a small cell).
 */
import sharp from 'sharp';
import { toBytes, type RgbImage } from '../dream/image.js';
import { escapeXml } from '../metrics/plot.js';

const FONT_SIZE = 13;
const LINE_HEIGHT = 16;
/** Average advance of the sans-serif font at FONT_SIZE, pixels per character (generous). */
const CHAR_WIDTH = 7.4;

/** `text` broken into lines of at most `width` pixels: at spaces, else after / _ - , else anywhere. */
export function wrapLabel(text: string, width: number): string[] {
  const perLine = Math.max(4, Math.floor((width - 8) / CHAR_WIDTH));
  const lines: string[] = [];
  let rest = text;
  while (rest.length > perLine) {
    const head = rest.slice(0, perLine + 1);
    const space = head.lastIndexOf(' ');
    const mark = Math.max(head.lastIndexOf('/'), head.lastIndexOf('_'), head.lastIndexOf('-'), head.lastIndexOf(','));
    const cut = space > 0 ? space : mark > 0 && mark < perLine ? mark + 1 : perLine;
    lines.push(rest.slice(0, cut).trimEnd());
    rest = rest.slice(cut).trimStart();
  }
  if (rest.length > 0) lines.push(rest);
  return lines;
}

/** A caption strip `width` wide holding every line of `lines`, wrapped. */
function strip(lines: readonly string[], width: number, height: number): Buffer {
  const text = lines.map((line, i) => `<text x="4" y="${(i + 1) * LINE_HEIGHT - 3}" font-family="sans-serif" font-size="${FONT_SIZE}" fill="#eee">${escapeXml(line)}</text>`).join('');
  return Buffer.from(`<svg width="${width}" height="${height}"><rect width="100%" height="100%" fill="#111"/>${text}</svg>`);
}

export interface SheetCell {
  image: RgbImage;
  label: string;
}

/** The sheet as PNG bytes: cells in a near-square grid, each captioned, then `notes` under it. */
export async function contactSheet(cells: readonly SheetCell[], notes: readonly string[] = []): Promise<Buffer> {
  const cellW = Math.max(...cells.map((c) => c.image.width));
  const imageH = Math.max(...cells.map((c) => c.image.height));
  const cols = Math.ceil(Math.sqrt(cells.length));
  const rows = Math.ceil(cells.length / cols);
  const captions = cells.map((c) => wrapLabel(c.label, cellW));
  const labelH = Math.max(...captions.map((c) => c.length)) * LINE_HEIGHT + 6;
  const cellH = imageH + labelH;
  const width = cols * cellW;
  const noteLines = notes.flatMap((n) => wrapLabel(n, width));
  const notesH = noteLines.length > 0 ? noteLines.length * LINE_HEIGHT + 6 : 0;
  const tiles: Array<{ input: Buffer; left: number; top: number }> = [];
  for (const [i, cell] of cells.entries()) {
    const left = (i % cols) * cellW;
    const top = Math.floor(i / cols) * cellH;
    const png = await sharp(Buffer.from(toBytes(cell.image).buffer), { raw: { width: cell.image.width, height: cell.image.height, channels: 3 } }).png().toBuffer();
    tiles.push({ input: png, left, top }, { input: strip(captions[i]!, cellW, labelH), left, top: top + imageH });
  }
  if (notesH > 0) tiles.push({ input: strip(noteLines, width, notesH), left: 0, top: rows * cellH });
  return sharp({ create: { width, height: rows * cellH + notesH, channels: 3, background: '#000' } })
    .composite(tiles)
    .png()
    .toBuffer();
}

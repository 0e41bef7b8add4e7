import { readFile } from 'node:fs/promises';
import sharp, { type Sharp } from 'sharp';

/**
 * Parameter provenance: every image dreamflow writes carries the full settings that made it, as
 * JSON, so `dreamflow info IMG` can print them and anyone can reproduce the picture.
 * PNG: an iTXt chunk with keyword `dreamflow`; JPEG: a COM segment starting `dreamflow:`; other
 * formats (webp, tiff, avif): the EXIF ImageDescription. The JSON is kept ASCII (non-ASCII
 * characters escaped), which all three carriers accept.
 */
export type Provenance = Record<string, unknown>;

export const PROVENANCE_KEY = 'dreamflow';
const JPEG_PREFIX = `${PROVENANCE_KEY}:`;
const PNG_SIGNATURE = Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]);

/** JSON with every non-ASCII character escaped: valid JSON, and plain ASCII for EXIF. */
export function asciiJson(value: unknown): string {
  return JSON.stringify(value).replace(/[\u007f-\uffff]/g, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`);
}

let crcTable: Uint32Array | undefined;

/** CRC-32 as PNG chunks use it (ISO 3309, reflected 0xEDB88320). */
export function crc32(bytes: Uint8Array): number {
  if (!crcTable) {
    crcTable = new Uint32Array(256);
    for (let n = 0; n < 256; n++) {
      let c = n;
      for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
      crcTable[n] = c >>> 0;
    }
  }
  let crc = 0xffffffff;
  for (const b of bytes) crc = crcTable[(crc ^ b) & 0xff]! ^ (crc >>> 8);
  return (crc ^ 0xffffffff) >>> 0;
}

function pngChunk(type: string, data: Buffer): Buffer {
  const head = Buffer.alloc(8);
  head.writeUInt32BE(data.length, 0);
  head.write(type, 4, 'latin1');
  const crc = Buffer.alloc(4);
  crc.writeUInt32BE(crc32(Buffer.concat([head.subarray(4), data])), 0);
  return Buffer.concat([head, data, crc]);
}

/** The PNG with an iTXt `dreamflow` chunk (uncompressed) inserted before IEND. */
export function embedPng(png: Buffer, json: string): Buffer {
  if (!png.subarray(0, 8).equals(PNG_SIGNATURE)) throw new Error('not a PNG');
  // iTXt: keyword, NUL, compression flag 0, method 0, empty language tag and translated keyword.
  const data = Buffer.concat([Buffer.from(PROVENANCE_KEY, 'latin1'), Buffer.from([0, 0, 0, 0, 0]), Buffer.from(json, 'utf8')]);
  const iend = png.length - 12;
  if (png.toString('latin1', iend + 4, iend + 8) !== 'IEND') throw new Error('PNG does not end with IEND');
  return Buffer.concat([png.subarray(0, iend), pngChunk('iTXt', data), png.subarray(iend)]);
}

/** The text of a PNG's `dreamflow` tEXt or iTXt chunk, if any. */
export function readPngText(png: Buffer): string | undefined {
  let at = 8;
  while (at + 12 <= png.length) {
    const length = png.readUInt32BE(at);
    const type = png.toString('latin1', at + 4, at + 8);
    const data = png.subarray(at + 8, at + 8 + length);
    if (type === 'tEXt' || type === 'iTXt') {
      const nul = data.indexOf(0);
      if (nul > 0 && data.toString('latin1', 0, nul) === PROVENANCE_KEY) {
        if (type === 'tEXt') return data.toString('latin1', nul + 1);
        // iTXt: skip compression flag and method, then the language tag and translated keyword.
        if (data[nul + 1] !== 0) return undefined;
        const lang = data.indexOf(0, nul + 3);
        const translated = data.indexOf(0, lang + 1);
        return data.toString('utf8', translated + 1);
      }
    }
    if (type === 'IEND') break;
    at += 12 + length;
  }
  return undefined;
}

/** The JPEG with a `dreamflow:` COM segment right after SOI. */
export function embedJpeg(jpeg: Buffer, json: string): Buffer {
  if (jpeg[0] !== 0xff || jpeg[1] !== 0xd8) throw new Error('not a JPEG');
  const text = Buffer.from(JPEG_PREFIX + json, 'utf8');
  if (text.length > 65533) throw new Error(`settings too long for a JPEG comment (${text.length} bytes)`);
  const head = Buffer.from([0xff, 0xfe, 0, 0]);
  head.writeUInt16BE(text.length + 2, 2);
  return Buffer.concat([jpeg.subarray(0, 2), head, text, jpeg.subarray(2)]);
}

/** The text of a JPEG's `dreamflow:` COM segment, if any (segments up to the scan). */
export function readJpegComment(jpeg: Buffer): string | undefined {
  let at = 2;
  while (at + 4 <= jpeg.length && jpeg[at] === 0xff) {
    const marker = jpeg[at + 1]!;
    if (marker === 0xd8 || (marker >= 0xd0 && marker <= 0xd7) || marker === 0x01) {
      at += 2;
      continue;
    }
    if (marker === 0xda || marker === 0xd9) break;
    const length = jpeg.readUInt16BE(at + 2);
    if (marker === 0xfe) {
      const text = jpeg.toString('utf8', at + 4, at + 2 + length);
      if (text.startsWith(JPEG_PREFIX)) return text.slice(JPEG_PREFIX.length);
    }
    at += 2 + length;
  }
  return undefined;
}

/** ImageDescription (tag 0x010E) of IFD0 in a raw EXIF block (`Exif\0\0` + TIFF), if any. */
export function readExifDescription(exif: Buffer): string | undefined {
  const tiff = exif.subarray(0, 6).toString('latin1') === 'Exif\0\0' ? exif.subarray(6) : exif;
  if (tiff.length < 8) return undefined;
  const little = tiff.toString('latin1', 0, 2) === 'II';
  const u16 = (o: number): number => (little ? tiff.readUInt16LE(o) : tiff.readUInt16BE(o));
  const u32 = (o: number): number => (little ? tiff.readUInt32LE(o) : tiff.readUInt32BE(o));
  const ifd = u32(4);
  if (ifd + 2 > tiff.length) return undefined;
  const count = u16(ifd);
  for (let i = 0; i < count; i++) {
    const entry = ifd + 2 + i * 12;
    if (entry + 12 > tiff.length) break;
    if (u16(entry) !== 0x010e) continue;
    const n = u32(entry + 4);
    const start = n <= 4 ? entry + 8 : u32(entry + 8);
    return tiff.toString('latin1', start, start + n).replace(/\0+$/, '');
  }
  return undefined;
}

/**
 * Encode a sharp pipeline to `format` with the provenance inside: PNG and JPEG get their text
 * chunk / comment spliced into the encoded bytes; webp, tiff and avif get the EXIF
 * ImageDescription at encoding (no second lossy pass); GIF has no place for it.
 */
export async function encodeWithProvenance(pipeline: Sharp, format: string, provenance?: Provenance): Promise<Buffer> {
  if (!provenance) return pipeline.toBuffer();
  const json = asciiJson(provenance);
  if (format === 'png') return embedPng(await pipeline.toBuffer(), json);
  if (format === 'jpeg') return embedJpeg(await pipeline.toBuffer(), json);
  if (format === 'gif') return pipeline.toBuffer();
  return pipeline.withExif({ IFD0: { ImageDescription: json } }).toBuffer();
}

/**
 * The provenance an image file carries: the parsed JSON, or `{ text }` for a plain-text note
 * (older outputs), or undefined when it carries none.
 */
export async function readProvenance(path: string): Promise<Provenance | undefined> {
  const bytes = await readFile(path);
  let text: string | undefined;
  if (bytes.subarray(0, 8).equals(PNG_SIGNATURE)) text = readPngText(bytes);
  else if (bytes[0] === 0xff && bytes[1] === 0xd8) text = readJpegComment(bytes);
  if (text === undefined) {
    const meta = await sharp(bytes).metadata();
    text = meta.exif ? readExifDescription(meta.exif) : undefined;
  }
  if (text === undefined) return undefined;
  try {
    const parsed: unknown = JSON.parse(text);
    if (parsed && typeof parsed === 'object' && !Array.isArray(parsed)) return parsed as Provenance;
  } catch {
    // Not JSON: a plain note.
  }
  return { text };
}

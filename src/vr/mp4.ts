/**
 * Just enough ISO-BMFF (MP4/MOV) to add boxes to a finished file: list the top-level boxes,
 * parse `moov` into a tree, edit it, write it back, and keep every chunk offset (stco/co64)
 * pointing at the same media bytes when `moov` sits before `mdat` (+faststart) and grows.
 * The media data itself is copied, never parsed or loaded whole.
 */
import { open, type FileHandle } from 'node:fs/promises';

/** A top-level box of a file: where it is and how big (header included). */
export interface FileBox {
  type: string;
  offset: number;
  size: number;
}

/**
 * A box of the moov tree. Containers have `children` (parsed after `prefix`, the fixed fields a
 * container like stsd or a sample entry carries before its child boxes) and may have `trailing`
 * bytes that were not boxes; leaves keep their `body` as it was.
 */
export interface BoxNode {
  type: string;
  prefix: Buffer;
  children: BoxNode[] | undefined;
  body: Buffer;
  trailing: Buffer;
}

/** Bytes before the first child of containers that have fixed fields of their own. */
const VISUAL_SAMPLE_ENTRY_FIELDS = 78;
const CONTAINER_PREFIX: Record<string, number> = {
  moov: 0,
  trak: 0,
  mdia: 0,
  minf: 0,
  stbl: 0,
  edts: 0,
  dinf: 0,
  udta: 0,
  sv3d: 0,
  proj: 0,
  // stsd: version/flags and entry_count.
  stsd: 8,
  // Visual sample entries: reserved, data reference index, then VisualSampleEntry's fields.
  avc1: VISUAL_SAMPLE_ENTRY_FIELDS,
  avc3: VISUAL_SAMPLE_ENTRY_FIELDS,
  hvc1: VISUAL_SAMPLE_ENTRY_FIELDS,
  hev1: VISUAL_SAMPLE_ENTRY_FIELDS,
  vp09: VISUAL_SAMPLE_ENTRY_FIELDS,
  av01: VISUAL_SAMPLE_ENTRY_FIELDS,
  mp4v: VISUAL_SAMPLE_ENTRY_FIELDS,
  encv: VISUAL_SAMPLE_ENTRY_FIELDS,
};

export class Mp4FormatError extends Error {}

/** The top-level boxes of a file, reading only their headers. */
export async function listTopLevelBoxes(path: string): Promise<FileBox[]> {
  const fh = await open(path, 'r');
  try {
    const { size: fileSize } = await fh.stat();
    const boxes: FileBox[] = [];
    const header = Buffer.alloc(16);
    let offset = 0;
    while (offset + 8 <= fileSize) {
      await fh.read(header, 0, 16, offset);
      let size = header.readUInt32BE(0);
      const type = header.toString('latin1', 4, 8);
      if (size === 1) size = Number(header.readBigUInt64BE(8));
      else if (size === 0) size = fileSize - offset;
      if (size < 8 || offset + size > fileSize) throw new Mp4FormatError(`box "${type}" at ${offset} has an impossible size ${size}`);
      boxes.push({ type, offset, size });
      offset += size;
    }
    return boxes;
  } finally {
    await fh.close();
  }
}

/** Parse a box (header included) into a tree, descending into the containers we edit. */
export function parseBox(buf: Buffer): BoxNode {
  const { type, headerSize, size } = boxHeader(buf, 0);
  if (size !== buf.length) throw new Mp4FormatError(`box "${type}" says ${size} bytes but has ${buf.length}`);
  return parseBody(type, buf.subarray(headerSize));
}

function boxHeader(buf: Buffer, at: number): { type: string; headerSize: number; size: number } {
  if (at + 8 > buf.length) throw new Mp4FormatError('truncated box header');
  let size = buf.readUInt32BE(at);
  const type = buf.toString('latin1', at + 4, at + 8);
  let headerSize = 8;
  if (size === 1) {
    if (at + 16 > buf.length) throw new Mp4FormatError('truncated box header');
    size = Number(buf.readBigUInt64BE(at + 8));
    headerSize = 16;
  } else if (size === 0) {
    size = buf.length - at;
  }
  return { type, headerSize, size };
}

function parseBody(type: string, body: Buffer): BoxNode {
  const prefixLength = CONTAINER_PREFIX[type];
  if (prefixLength === undefined || body.length < prefixLength) {
    return { type, prefix: Buffer.alloc(0), children: undefined, body: Buffer.from(body), trailing: Buffer.alloc(0) };
  }
  const children: BoxNode[] = [];
  let at = prefixLength;
  while (at + 8 <= body.length) {
    const h = boxHeader(body, at);
    // Some writers pad sample entries with zeros after the last child: keep such bytes as they are.
    if (h.size < h.headerSize || at + h.size > body.length) break;
    children.push(parseBody(h.type, body.subarray(at + h.headerSize, at + h.size)));
    at += h.size;
  }
  return {
    type,
    prefix: Buffer.from(body.subarray(0, prefixLength)),
    children,
    body: Buffer.alloc(0),
    trailing: Buffer.from(body.subarray(at)),
  };
}

/** Size of a box once written (header included). */
export function boxSize(node: BoxNode): number {
  const content = contentSize(node);
  return content + (content + 8 > 0xffffffff ? 16 : 8);
}

function contentSize(node: BoxNode): number {
  if (!node.children) return node.body.length;
  return node.prefix.length + node.children.reduce((s, c) => s + boxSize(c), 0) + node.trailing.length;
}

/** Write a box tree back to bytes, with every size field recomputed. */
export function serializeBox(node: BoxNode): Buffer {
  const parts: Buffer[] = [];
  write(node, parts);
  return Buffer.concat(parts);
}

function write(node: BoxNode, parts: Buffer[]): void {
  const size = boxSize(node);
  const large = size - contentSize(node) === 16;
  const header = Buffer.alloc(large ? 16 : 8);
  header.writeUInt32BE(large ? 1 : size, 0);
  header.write(node.type, 4, 4, 'latin1');
  if (large) header.writeBigUInt64BE(BigInt(size), 8);
  parts.push(header);
  if (!node.children) {
    parts.push(node.body);
    return;
  }
  parts.push(node.prefix);
  for (const c of node.children) write(c, parts);
  parts.push(node.trailing);
}

/** A leaf box with a body. */
export function leafBox(type: string, body: Buffer): BoxNode {
  if (type.length !== 4) throw new Error(`box type must have 4 characters: "${type}"`);
  return { type, prefix: Buffer.alloc(0), children: undefined, body, trailing: Buffer.alloc(0) };
}

/** A container box with children (and optional fixed fields before them). */
export function containerBox(type: string, children: BoxNode[], prefix = Buffer.alloc(0)): BoxNode {
  return { type, prefix, children, body: Buffer.alloc(0), trailing: Buffer.alloc(0) };
}

/** A FullBox body: version, 24-bit flags, then `payload`. */
export function fullBoxBody(version: number, flags: number, payload: Buffer): Buffer {
  const head = Buffer.alloc(4);
  head.writeUInt32BE(((version & 0xff) << 24) | (flags & 0xffffff), 0);
  return Buffer.concat([head, payload]);
}

export function child(node: BoxNode, type: string): BoxNode | undefined {
  return node.children?.find((c) => c.type === type);
}

/** Follow a path of child types (e.g. "mdia/minf/stbl"). */
export function descend(node: BoxNode, path: string): BoxNode | undefined {
  let cur: BoxNode | undefined = node;
  for (const t of path.split('/')) cur = cur && child(cur, t);
  return cur;
}

/** The handler type of a trak ("vide", "soun", …). */
export function handlerType(trak: BoxNode): string | undefined {
  const hdlr = descend(trak, 'mdia/hdlr');
  // FullBox header (4), pre_defined (4), then handler_type.
  return hdlr && hdlr.body.length >= 12 ? hdlr.body.toString('latin1', 8, 12) : undefined;
}

/** The first video track of a moov tree. */
export function videoTrack(moov: BoxNode): BoxNode | undefined {
  return moov.children?.find((c) => c.type === 'trak' && handlerType(c) === 'vide');
}

/** The first sample entry (e.g. avc1) of a track, if it is a visual entry we can edit. */
export function visualSampleEntry(trak: BoxNode): BoxNode | undefined {
  const stsd = descend(trak, 'mdia/minf/stbl/stsd');
  const entry = stsd?.children?.[0];
  return entry && CONTAINER_PREFIX[entry.type] === VISUAL_SAMPLE_ENTRY_FIELDS ? entry : undefined;
}

/** Every chunk-offset table (stco, co64) in the moov tree. */
function chunkOffsetBoxes(moov: BoxNode): BoxNode[] {
  const out: BoxNode[] = [];
  for (const trak of moov.children ?? []) {
    if (trak.type !== 'trak') continue;
    const stbl = descend(trak, 'mdia/minf/stbl');
    for (const c of stbl?.children ?? []) if (c.type === 'stco' || c.type === 'co64') out.push(c);
  }
  return out;
}

function readOffsets(box: BoxNode): bigint[] {
  const b = box.body;
  const count = b.readUInt32BE(4);
  const wide = box.type === 'co64';
  const need = 8 + count * (wide ? 8 : 4);
  if (b.length < need) throw new Mp4FormatError(`${box.type} is truncated`);
  const out: bigint[] = [];
  for (let i = 0; i < count; i++) out.push(wide ? b.readBigUInt64BE(8 + 8 * i) : BigInt(b.readUInt32BE(8 + 4 * i)));
  return out;
}

function writeOffsets(box: BoxNode, offsets: bigint[], wide: boolean): void {
  const body = Buffer.alloc(8 + offsets.length * (wide ? 8 : 4));
  box.body.copy(body, 0, 0, 4); // version and flags
  body.writeUInt32BE(offsets.length, 4);
  offsets.forEach((o, i) => (wide ? body.writeBigUInt64BE(o, 8 + 8 * i) : body.writeUInt32BE(Number(o), 8 + 4 * i)));
  box.type = wide ? 'co64' : 'stco';
  box.body = body;
}

/**
 * Move every chunk offset at or after `from` by `delta` bytes (the media after a grown moov).
 * A 32-bit table whose offsets would no longer fit becomes a co64 table, which grows the moov
 * again: so this is called until the size settles (see rewriteMoov).
 */
function shiftChunkOffsets(moov: BoxNode, from: number, delta: number, original: Map<BoxNode, bigint[]>): void {
  for (const box of chunkOffsetBoxes(moov)) {
    let offsets = original.get(box);
    if (!offsets) {
      offsets = readOffsets(box);
      original.set(box, offsets);
    }
    const shifted = offsets.map((o) => (o >= BigInt(from) ? o + BigInt(delta) : o));
    const wide = box.type === 'co64' || shifted.some((o) => o > 0xffffffffn);
    writeOffsets(box, shifted, wide);
  }
}

/**
 * Rewrite `path` into `outPath` with its moov replaced by `edit(moov)`'s result. Chunk offsets
 * into media that the new moov pushes further back (moov before mdat) are corrected; with moov
 * at the end nothing else moves. Returns the byte growth of the moov.
 */
export async function rewriteMoov(path: string, outPath: string, edit: (moov: BoxNode) => void): Promise<number> {
  const boxes = await listTopLevelBoxes(path);
  const moovBox = boxes.find((b) => b.type === 'moov');
  if (!moovBox) throw new Mp4FormatError(`${path} has no moov box`);
  if (boxes.some((b) => b.type === 'moof')) throw new Mp4FormatError(`${path} is a fragmented MP4 (not supported)`);
  const fh = await open(path, 'r');
  let out: FileHandle | undefined;
  try {
    const raw = Buffer.alloc(moovBox.size);
    await fh.read(raw, 0, moovBox.size, moovBox.offset);
    const moov = parseBox(raw);
    edit(moov);
    const moovEnd = moovBox.offset + moovBox.size;
    const original = new Map<BoxNode, bigint[]>();
    let delta = boxSize(moov) - moovBox.size;
    // Converting a table to co64 grows the moov; a few rounds at most settle it.
    for (let round = 0; round < 4; round++) {
      shiftChunkOffsets(moov, moovEnd, delta, original);
      const next = boxSize(moov) - moovBox.size;
      if (next === delta) break;
      delta = next;
    }
    const newMoov = serializeBox(moov);
    out = await open(outPath, 'w');
    let writeAt = 0;
    for (const b of boxes) {
      if (b === moovBox) {
        await out.write(newMoov, 0, newMoov.length, writeAt);
        writeAt += newMoov.length;
      } else {
        await copyRange(fh, out, b.offset, b.size, writeAt);
        writeAt += b.size;
      }
    }
    await out.close();
    out = undefined;
    return newMoov.length - moovBox.size;
  } finally {
    await out?.close();
    await fh.close();
  }
}

/** The moov of a file as a tree (undefined when the file has none). */
export async function readMoov(path: string): Promise<BoxNode | undefined> {
  const boxes = await listTopLevelBoxes(path);
  const moovBox = boxes.find((b) => b.type === 'moov');
  if (!moovBox) return undefined;
  const fh = await open(path, 'r');
  try {
    const raw = Buffer.alloc(moovBox.size);
    await fh.read(raw, 0, moovBox.size, moovBox.offset);
    return parseBox(raw);
  } finally {
    await fh.close();
  }
}

const COPY_CHUNK = 4 << 20;

async function copyRange(from: FileHandle, to: FileHandle, offset: number, length: number, writeAt: number): Promise<void> {
  const buf = Buffer.alloc(Math.min(COPY_CHUNK, length));
  let done = 0;
  while (done < length) {
    const n = Math.min(buf.length, length - done);
    const { bytesRead } = await from.read(buf, 0, n, offset + done);
    if (bytesRead !== n) throw new Mp4FormatError('file ended inside a box');
    await to.write(buf, 0, n, writeAt + done);
    done += n;
  }
}

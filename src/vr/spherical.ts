/**
 * Spherical video metadata, so players and video sites show the output as 360°:
 * - Spherical Video V1 (Google's RFC): a `uuid` box ffcc8263-f855-4a93-8814-587a02521fdd in the
 *   video `trak` holding RDF/XML (projection, stereo mode, initial view, …);
 * - Spherical Video V2: `st3d` (stereo layout) and `sv3d` (svhd, proj → prhd pose + equi bounds)
 *   inside the video sample entry (avc1, hvc1, …).
 * ffmpeg writes the V2 boxes only when the stream carries spherical side data, which raw frames
 * from a pipe never do, so they are added here to the finished file (see mp4.ts).
 */
import { rename, unlink } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import type { StereoMode } from './layout.js';
import {
  child,
  containerBox,
  fullBoxBody,
  leafBox,
  readMoov,
  rewriteMoov,
  videoTrack,
  visualSampleEntry,
  type BoxNode,
} from './mp4.js';

export const SPHERICAL_V1_UUID = 'ffcc8263f8554a938814587a02521fdd';

export interface SphericalPose {
  /** Degrees, as in prhd (16.16 fixed point in the file). */
  yaw: number;
  pitch: number;
  roll: number;
}

/** Equirectangular crop bounds (0.32 fixed point in equi): 0 everywhere is a full sphere. */
export interface EquirectBounds {
  top: number;
  bottom: number;
  left: number;
  right: number;
}

export interface SphericalMetadata {
  projection: 'equirectangular' | 'cubemap' | 'other';
  stereo: StereoMode;
  pose: SphericalPose;
  bounds: EquirectBounds;
  /** V1 XML elements other than the ones this module writes itself (kept as they were). */
  extraV1: Array<{ name: string; value: string }>;
  /** Where the metadata came from ("dreamflow", or the tool that wrote the input's). */
  source: string;
}

export const NO_POSE: SphericalPose = { yaw: 0, pitch: 0, roll: 0 };
export const FULL_SPHERE: EquirectBounds = { top: 0, bottom: 0, left: 0, right: 0 };

const ST3D_MODE: Record<StereoMode, number> = { mono: 0, 'top-bottom': 1, 'left-right': 2 };
const V1_STEREO: Record<StereoMode, string> = { mono: 'mono', 'top-bottom': 'top-bottom', 'left-right': 'left-right' };
/** V1 elements this module writes, and pixel sizes that stop being true once frames are resized. */
const V1_OWN = new Set([
  'Spherical',
  'Stitched',
  'StitchingSoftware',
  'ProjectionType',
  'StereoMode',
  'SourceCount',
  'FullPanoWidthPixels',
  'FullPanoHeightPixels',
  'CroppedAreaImageWidthPixels',
  'CroppedAreaImageHeightPixels',
  'CroppedAreaLeftPixels',
  'CroppedAreaTopPixels',
]);

function xmlEscape(s: string): string {
  return s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
}

function xmlUnescape(s: string): string {
  return s.replace(/&lt;/g, '<').replace(/&gt;/g, '>').replace(/&quot;/g, '"').replace(/&apos;/g, "'").replace(/&amp;/g, '&');
}

/** The V1 RDF/XML document. Pure. */
export function sphericalV1Xml(meta: SphericalMetadata): string {
  const el = (name: string, value: string): string => `<GSpherical:${name}>${xmlEscape(value)}</GSpherical:${name}>`;
  const lines = [
    el('Spherical', 'true'),
    el('Stitched', 'true'),
    el('StitchingSoftware', meta.source),
    el('ProjectionType', 'equirectangular'),
  ];
  if (meta.stereo !== 'mono') lines.push(el('StereoMode', V1_STEREO[meta.stereo]));
  for (const e of meta.extraV1) lines.push(el(e.name, e.value));
  return (
    '<?xml version="1.0"?><rdf:SphericalVideo\n' +
    'xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#"\n' +
    'xmlns:GSpherical="http://ns.google.com/videos/1.0/spherical/">' +
    lines.join('') +
    '</rdf:SphericalVideo>'
  );
}

/** The V1 `uuid` box. */
export function sphericalV1Box(meta: SphericalMetadata): BoxNode {
  return leafBox('uuid', Buffer.concat([Buffer.from(SPHERICAL_V1_UUID, 'hex'), Buffer.from(sphericalV1Xml(meta), 'utf8')]));
}

/** The V2 `st3d` box. */
export function st3dBox(stereo: StereoMode): BoxNode {
  return leafBox('st3d', fullBoxBody(0, 0, Buffer.from([ST3D_MODE[stereo]])));
}

const fixed16 = (degrees: number): number => Math.round(degrees * 65536) | 0;
const fixed32 = (fraction: number): number => Math.min(0xffffffff, Math.max(0, Math.round(fraction * 2 ** 32)));

/** The V2 `sv3d` box (equirectangular projection). */
export function sv3dBox(meta: SphericalMetadata): BoxNode {
  const source = Buffer.concat([Buffer.from(meta.source, 'utf8'), Buffer.from([0])]);
  const pose = Buffer.alloc(12);
  pose.writeInt32BE(fixed16(meta.pose.yaw), 0);
  pose.writeInt32BE(fixed16(meta.pose.pitch), 4);
  pose.writeInt32BE(fixed16(meta.pose.roll), 8);
  const bounds = Buffer.alloc(16);
  [meta.bounds.top, meta.bounds.bottom, meta.bounds.left, meta.bounds.right].forEach((b, i) => bounds.writeUInt32BE(fixed32(b), 4 * i));
  return containerBox('sv3d', [
    leafBox('svhd', fullBoxBody(0, 0, source)),
    containerBox('proj', [leafBox('prhd', fullBoxBody(0, 0, pose)), leafBox('equi', fullBoxBody(0, 0, bounds))]),
  ]);
}

function isV1Box(b: BoxNode): boolean {
  return b.type === 'uuid' && b.body.length >= 16 && b.body.subarray(0, 16).toString('hex') === SPHERICAL_V1_UUID;
}

/**
 * Put `meta` into a moov tree: V1 box at the end of the video trak, st3d + sv3d at the end of
 * its sample entry, replacing any spherical boxes already there. Throws when there is no video
 * track with an editable sample entry.
 */
export function injectSpherical(moov: BoxNode, meta: SphericalMetadata): void {
  const trak = videoTrack(moov);
  if (!trak?.children) throw new Error('no video track to mark as spherical');
  const entry = visualSampleEntry(trak);
  if (!entry?.children) throw new Error(`the video sample entry ${trak ? 'is not one that can carry spherical boxes' : 'is missing'}`);
  trak.children = trak.children.filter((b) => !isV1Box(b));
  trak.children.push(sphericalV1Box(meta));
  entry.children = entry.children.filter((b) => b.type !== 'st3d' && b.type !== 'sv3d');
  entry.children.push(st3dBox(meta.stereo), sv3dBox(meta));
}

/** What a moov says about spherical video (V2 boxes first, V1 XML for the rest). */
export function sphericalFromMoov(moov: BoxNode): Partial<SphericalMetadata> | undefined {
  const trak = videoTrack(moov);
  if (!trak) return undefined;
  const found: Partial<SphericalMetadata> = {};
  const v1 = trak.children?.find(isV1Box);
  if (v1) Object.assign(found, parseV1Xml(v1.body.subarray(16).toString('utf8')));
  const entry = visualSampleEntry(trak);
  const st3d = entry && child(entry, 'st3d');
  if (st3d && st3d.body.length >= 5) {
    const mode = (Object.keys(ST3D_MODE) as StereoMode[]).find((k) => ST3D_MODE[k] === st3d.body[4]);
    if (mode) found.stereo = mode;
  }
  const sv3d = entry && child(entry, 'sv3d');
  const proj = sv3d && child(sv3d, 'proj');
  if (proj) {
    const svhd = child(sv3d!, 'svhd');
    if (svhd && svhd.body.length > 4) found.source = svhd.body.subarray(4).toString('utf8').replace(/\0.*$/s, '');
    const prhd = child(proj, 'prhd');
    if (prhd && prhd.body.length >= 16) {
      found.pose = { yaw: prhd.body.readInt32BE(4) / 65536, pitch: prhd.body.readInt32BE(8) / 65536, roll: prhd.body.readInt32BE(12) / 65536 };
    }
    const equi = child(proj, 'equi');
    if (equi && equi.body.length >= 20) {
      const r = (i: number): number => equi.body.readUInt32BE(4 + 4 * i) / 2 ** 32;
      found.projection = 'equirectangular';
      found.bounds = { top: r(0), bottom: r(1), left: r(2), right: r(3) };
    } else if (child(proj, 'cbmp')) {
      found.projection = 'cubemap';
    } else {
      found.projection = 'other';
    }
  }
  return Object.keys(found).length > 0 ? found : undefined;
}

/** The V1 XML's projection, stereo mode and other elements. Pure. */
export function parseV1Xml(xml: string): Partial<SphericalMetadata> {
  const out: Partial<SphericalMetadata> = {};
  const extra: Array<{ name: string; value: string }> = [];
  for (const m of xml.matchAll(/<GSpherical:([A-Za-z]+)>([^<]*)<\/GSpherical:\1>/g)) {
    const name = m[1]!;
    const value = xmlUnescape(m[2]!.trim());
    if (name === 'ProjectionType') out.projection = value === 'equirectangular' ? 'equirectangular' : 'other';
    else if (name === 'StereoMode') out.stereo = value === 'top-bottom' ? 'top-bottom' : value === 'left-right' ? 'left-right' : 'mono';
    else if (name === 'StitchingSoftware') out.source = value;
    else if (!V1_OWN.has(name)) extra.push({ name, value });
  }
  if (extra.length > 0) out.extraV1 = extra;
  return out;
}

/** The spherical metadata of an MP4/MOV file, or undefined (none, or not an MP4 we can read). */
export async function readSphericalMetadata(path: string): Promise<Partial<SphericalMetadata> | undefined> {
  try {
    const moov = await readMoov(path);
    return moov && sphericalFromMoov(moov);
  } catch {
    // Not ISO-BMFF (mkv, webm …): nothing to keep from boxes.
    return undefined;
  }
}

/** Defaults for anything the input did not say; the output's own facts (stereo) win. */
export function outputMetadata(stereo: StereoMode, kept: Partial<SphericalMetadata> | undefined): SphericalMetadata {
  return {
    projection: 'equirectangular',
    stereo,
    pose: kept?.pose ?? NO_POSE,
    bounds: kept?.bounds ?? FULL_SPHERE,
    extraV1: kept?.extraV1 ?? [],
    source: 'dreamflow',
  };
}

/**
 * Add the spherical boxes to an MP4/MOV file in place (through a temp file and a rename, so a
 * failure leaves the file as it was).
 */
export async function writeSphericalMetadata(path: string, meta: SphericalMetadata): Promise<void> {
  const temp = join(dirname(path), `.${basename(path)}.spherical-${process.pid}`);
  try {
    await rewriteMoov(path, temp, (moov) => injectSpherical(moov, meta));
    await rename(temp, path);
  } catch (err) {
    await unlink(temp).catch(() => undefined);
    throw err;
  }
}

/**
 * The virtual camera: `--push v4l2:/dev/videoN` writes the dreamed frames through ffmpeg to a
 * v4l2loopback device, which OBS, Zoom, browsers and TouchDesigner then list as a camera
 * (docs/architecture.md, "Live outputs"). Only a loopback device is accepted: writing to a real
 * camera's node fails in obscure ways, and a missing device gets the command that makes one.
 */
import { existsSync, readFileSync, realpathSync, statSync } from 'node:fs';
import { basename, join } from 'node:path';

/** Where Linux lists video devices (a parameter so the checks can be pointed at another tree). */
export const VIDEO4LINUX_SYSFS = '/sys/class/video4linux';

/** `v4l2:/dev/video9` or a bare `/dev/video9` → the device path; anything else undefined. Pure. */
export function parseV4l2Target(text: string): string | undefined {
  const t = text.trim();
  const m = /^v4l2:(.+)$/i.exec(t);
  if (m) return m[1]!;
  if (/^\/dev\/video\d+$/.test(t)) return t;
  return undefined;
}

/** The command that creates loopback device N, named so OBS and browsers show "dreamflow". Pure. */
export function modprobeCommand(device: string): string {
  const n = /video(\d+)$/.exec(device)?.[1] ?? '9';
  return `sudo modprobe v4l2loopback devices=1 video_nr=${n} card_label=dreamflow exclusive_caps=1`;
}

/**
 * Why `device` cannot take the virtual camera, or undefined when it is a v4l2loopback device.
 * A loopback device is virtual (its sysfs node lies under /devices/virtual, where real cameras
 * sit under their USB or PCI bus), or its name says so ("Dummy video device", "loopback", or the
 * card_label the modprobe line gives).
 */
export function v4l2Problem(device: string, sysfs: string = VIDEO4LINUX_SYSFS): string | undefined {
  const fix = `load a loopback device with: ${modprobeCommand(device)}`;
  if (!/^\/dev\/video\d+$/.test(device)) return `${device} is not a video device path (/dev/videoN): ${fix}`;
  if (!existsSync(device)) return `${device} does not exist: ${fix}`;
  if (!statSync(device).isCharacterDevice()) return `${device} is not a device: ${fix}`;
  const node = join(sysfs, basename(device));
  let name = '';
  try {
    name = readFileSync(join(node, 'name'), 'utf8').trim();
  } catch {
    return `${device} is not listed in ${sysfs}, so it cannot be checked as a loopback device: ${fix}`;
  }
  let virtual = false;
  try {
    virtual = realpathSync(node).includes('/devices/virtual/');
  } catch {
    virtual = false;
  }
  if (virtual || /dummy|loopback|dreamflow/i.test(name)) return undefined;
  return `${device} is a camera ("${name}"), not a v4l2loopback device: ${fix}`;
}

/**
 * ffmpeg's output arguments for the loopback device: yuv420p, which browsers (with
 * exclusive_caps=1), OBS and Zoom all accept; the live size is always even, as 4:2:0 needs. Pure.
 */
export function v4l2OutputArgs(device: string): string[] {
  return ['-pix_fmt', 'yuv420p', '-f', 'v4l2', device];
}

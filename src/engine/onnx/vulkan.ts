import { spawnSync } from 'node:child_process';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { basename, dirname, join, resolve } from 'node:path';

/**
 * The Vulkan drivers (ICDs) ONNX Runtime's WebGPU provider can reach through Dawn on Linux, and
 * SwiftShader, the software Vulkan driver Debian's Chromium ships, which gives an adapter on
 * machines without a GPU (docs/architecture.md, "Engines"). ONNX Runtime's Node binding does not
 * say which adapter it opened, so the adapters are read from the ICD manifests the Vulkan loader
 * itself reads: VK_ICD_FILENAMES when set, else the standard folders.
 */

/** A software Vulkan driver and the folder holding it and its loader (libvulkan.so.1). */
export interface SoftwareVulkan {
  /** The ICD manifest: VK_ICD_FILENAMES. */
  icd: string;
  /** The folder with the driver and the loader: LD_LIBRARY_PATH. */
  libraryDir: string;
}

/** Where Debian, Ubuntu and Fedora put Chromium's libraries. */
const CHROMIUM_LIBRARY_DIRS = ['/usr/lib/chromium', '/usr/lib64/chromium', '/usr/lib/chromium-browser', '/usr/lib64/chromium-browser'];

function swiftShaderIn(dir: string): SoftwareVulkan | null {
  const icd = join(dir, 'vk_swiftshader_icd.json');
  return existsSync(icd) && existsSync(join(dir, 'libvk_swiftshader.so')) && existsSync(join(dir, 'libvulkan.so.1')) ? { icd, libraryDir: dir } : null;
}

/**
 * SwiftShader as Chromium installs it (Debian: the chromium-common package), or null. Known
 * folders first; else the files dpkg says chromium-common installed.
 */
export function findSoftwareVulkan(): SoftwareVulkan | null {
  for (const dir of CHROMIUM_LIBRARY_DIRS) {
    const found = swiftShaderIn(dir);
    if (found) return found;
  }
  const listed = spawnSync('dpkg', ['-L', 'chromium-common'], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] });
  if (listed.status !== 0 || typeof listed.stdout !== 'string') return null;
  const icd = listed.stdout.split('\n').find((line) => line.endsWith('/vk_swiftshader_icd.json'));
  return icd ? swiftShaderIn(dirname(icd)) : null;
}

/** The environment that makes the Vulkan loader use `software` (set before the process starts). */
export function softwareVulkanEnv(software: SoftwareVulkan, base: NodeJS.ProcessEnv = process.env): Record<string, string> {
  const previous = base['LD_LIBRARY_PATH'];
  return {
    VK_ICD_FILENAMES: software.icd,
    LD_LIBRARY_PATH: previous ? `${software.libraryDir}:${previous}` : software.libraryDir,
  };
}

/** One Vulkan driver the loader would offer Dawn. */
export interface VulkanDriver {
  /** Its manifest. */
  icd: string;
  /** The driver library the manifest names. */
  library: string;
  /** A name for people: the driver's, read from the library's file name. */
  name: string;
  /** A CPU rasteriser (SwiftShader, lavapipe/llvmpipe), not a GPU. */
  software: boolean;
}

const KNOWN_DRIVERS: Array<[RegExp, string, boolean]> = [
  [/swiftshader/i, 'SwiftShader (Google)', true],
  [/lvp|lavapipe|llvmpipe/i, 'lavapipe (Mesa)', true],
  [/nvidia|libGLX_nvidia/i, 'NVIDIA', false],
  [/radeon|amdvlk|amdgpu/i, 'AMD', false],
  [/intel|anv/i, 'Intel', false],
  [/virtio|venus/i, 'virtio-gpu (Mesa)', false],
  [/mock/i, 'Vulkan mock driver (no device)', true],
];

const ICD_DIRS = ['/etc/vulkan/icd.d', '/usr/local/share/vulkan/icd.d', '/usr/share/vulkan/icd.d'];

/** The ICDs the Vulkan loader would read, by the loader's own rule (VK_ICD_FILENAMES wins). */
export function vulkanDrivers(env: NodeJS.ProcessEnv = process.env): VulkanDriver[] {
  const named = env['VK_ICD_FILENAMES'] ?? env['VK_DRIVER_FILES'];
  const files = named
    ? named.split(':').filter(Boolean)
    : ICD_DIRS.filter((d) => existsSync(d)).flatMap((d) => readdirSync(d).filter((f) => f.endsWith('.json')).map((f) => join(d, f)));
  const drivers: VulkanDriver[] = [];
  for (const icd of files) {
    let library = '';
    try {
      const manifest = JSON.parse(readFileSync(icd, 'utf8')) as { ICD?: { library_path?: unknown } };
      if (typeof manifest.ICD?.library_path === 'string') library = manifest.ICD.library_path;
    } catch {
      continue;
    }
    if (library.startsWith('.')) library = resolve(dirname(icd), library);
    const id = `${basename(icd)} ${basename(library)}`;
    const known = KNOWN_DRIVERS.find(([pattern]) => pattern.test(id));
    drivers.push({ icd, library, name: known?.[1] ?? basename(library), software: known?.[2] ?? false });
  }
  return drivers;
}

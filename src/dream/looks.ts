/**
 * Named looks (docs/architecture.md, "Looks"): tested combinations of layers, octaves, steps,
 * jitter and priors for bvlc_googlenet, under names an artist can pick (`--look classic`). A look
 * is the dream stage's fields as a pipeline file spells them; fields given with it win.
 * `dreamflow looks` renders each on one picture (docs/looks.png).
 */

export interface Look {
  name: string;
  /** What it looks like, for `dreamflow looks`. */
  description: string;
  /** Dream-stage fields (spec.ts names) the look sets. */
  fields: Readonly<Record<string, string | number | boolean>>;
}

export const LOOKS: readonly Look[] = [
  {
    name: 'classic',
    description: "Google's 2015 notebook: inception_4c, 4 octaves of 1.4, 10 steps of 1.5, jitter 32 (dogs, eyes, pagodas everywhere)",
    fields: { layer: 'inception_4c/output', octaves: 4, octaveScale: 1.4, iterations: 10, step: 1.5, jitter: 32 },
  },
  {
    name: 'eyes',
    description: 'eyes and small faces: inception_4a, strong steps over many fine octaves',
    fields: { layer: 'inception_4a/output', octaves: 6, octaveScale: 1.25, iterations: 10, step: 2.5, jitter: 16 },
  },
  {
    name: 'animals',
    description: 'whole animals and fur: inception_4d with some 4e, deep and large-scale',
    fields: { layer: 'inception_4d/output:1,inception_4e/output:0.5', octaves: 5, octaveScale: 1.4, iterations: 12, step: 1.8, jitter: 32 },
  },
  {
    name: 'architecture',
    description: 'pagodas, arches and towers: inception_4e, few broad octaves, large jitter, smoothed by total variation',
    fields: { layer: 'inception_4e/output', octaves: 3, octaveScale: 1.8, iterations: 14, step: 2.5, jitter: 64, tv: 0.1 },
  },
  {
    name: 'subtle',
    description: 'a light touch that keeps the picture: inception_3b, few weak steps, detail decaying',
    fields: { layer: 'inception_3b/output', octaves: 3, octaveScale: 1.4, iterations: 6, step: 0.8, jitter: 16, decay: 0.02 },
  },
  {
    name: 'painterly',
    description: 'brush strokes and swirls: inception_3b with 3a, colour-decorrelated steps, a softened gradient',
    fields: { layer: 'inception_3b/output:1,inception_3a/output:0.5', octaves: 4, octaveScale: 1.5, iterations: 10, step: 2.2, jitter: 32, decorrelate: true, blur: '1:0' },
  },
  {
    name: 'textures',
    description: 'fine patterns and weaves: the early conv2 layer',
    fields: { layer: 'conv2/3x3', octaves: 3, octaveScale: 1.4, iterations: 10, step: 1.5, jitter: 16 },
  },
];

export const LOOK_NAMES: readonly string[] = LOOKS.map((l) => l.name);

/** The look of a name (names are checked by the spec table first). */
export function lookNamed(name: string): Look | undefined {
  return LOOKS.find((l) => l.name === name);
}

/** A live look: the layer and step a working size can carry. */
export interface LiveLook {
  layer: string;
  step: number;
}

/**
 * What `live` dreams with when --layer and --step are not given (docs/architecture.md, "Live
 * look"). On the CPU the controller holds --fps at one step on a thumbnail (160x90 to 320x180):
 * a deep layer's patterns (inception_4c: eyes, animals) are then a faint texture a few pixels
 * wide, so a lower layer with a larger step draws shapes that read at that size. A fast device
 * (a GPU provider) or a working size above 360 lines keeps the richest look. Pure.
 */
export function liveLook(size: { width: number; height: number }, fastDevice: boolean): LiveLook {
  if (fastDevice || Math.min(size.width, size.height) > 360) return { layer: 'inception_4c/output', step: 1.5 };
  return { layer: 'inception_3b/output', step: 3 };
}

/** Dream-stage fields that choose what is dreamed: any of them given, the live look keeps off the layer. */
const OBJECTIVE_FIELDS = ['layer', 'channel', 'class', 'neuron', 'guide', 'look'] as const;

/**
 * The fields of the live look that a live dream stage, as given (in a file or by flags), leaves
 * open: its layer unless any objective field or a look is given (and the model has that layer),
 * its step unless a step or a look is given. `--print-config` writes them, so a printed config
 * dreams what the command does.
 */
export function liveLookFields(given: Readonly<Record<string, unknown>>, look: LiveLook, modelHasLayer: (name: string) => boolean): Partial<LiveLook> {
  const out: Partial<LiveLook> = {};
  if (OBJECTIVE_FIELDS.every((k) => given[k] === undefined) && modelHasLayer(look.layer)) out.layer = look.layer;
  if (given['step'] === undefined && given['look'] === undefined) out.step = look.step;
  return out;
}

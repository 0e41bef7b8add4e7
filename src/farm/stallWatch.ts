/**
 * The coordinator's stall watch: when nothing was collected and no segment was active for a
 * while, a job that completed without its result arriving (a job replayed under another id, a
 * rogue client answering the queue) is queued again; one that keeps doing so stops the run
 * (docs/architecture.md, "The farm's trust boundary").
 */
import { UserError } from '../errors.js';
import { SegmentQueue } from './segmentQueue.js';

/** Times one segment's job may complete without a result reaching the coordinator before it stops. */
const STALL_REQUEUES = 3;

export class StallWatch {
  private progressAt = performance.now();
  private progressMark = '';
  private readonly emptyCompletions = new Map<number, number>();

  constructor(
    private readonly queue: SegmentQueue,
    private readonly opts: { stallMs: number; onWarning?: ((message: string) => void) | undefined },
  ) {}

  /** One look after a poll: `done` the stored results it saw, `active` the segments being dreamed. */
  async check(done: ReadonlySet<number>, active: number, framesDone: number): Promise<void> {
    const { queue } = this;
    const { plan, have } = queue;
    const mark = `${have.size}/${framesDone}`;
    if (active > 0 || mark !== this.progressMark) {
      this.progressMark = mark;
      this.progressAt = performance.now();
      return;
    }
    if (performance.now() - this.progressAt < this.opts.stallMs) return;
    this.progressAt = performance.now();
    const completed = new Set((await queue.jobs('completed')).map(SegmentQueue.segmentOf));
    // Read again after the job states: a segment that finished since this poll began is not empty.
    const doneNow = await queue.done();
    const empty = plan.filter((s) => queue.queued.has(s.index) && !have.has(s.index) && !done.has(s.index) && !doneNow.has(s.index) && completed.has(s.index));
    for (const s of empty) {
      const times = (this.emptyCompletions.get(s.index) ?? 0) + 1;
      this.emptyCompletions.set(s.index, times);
      if (times > STALL_REQUEUES) {
        await queue.abandon();
        throw new UserError(
          `segment ${s.index + 1}/${plan.length}: its job completed ${times} times without a result reaching the coordinator (a job replayed under another id, or a client that is not a dreamflow worker, answers queue ${queue.name}); stopped with ${have.size} of ${plan.length} segments collected`,
        );
      }
    }
    if (empty.length > 0) {
      this.opts.onWarning?.(`no progress for ${this.opts.stallMs / 1000} s: ${empty.length} segment job(s) completed without a result (${empty.map((s) => s.index + 1).join(', ')} of ${plan.length}); queued them again`);
      for (const s of empty) await queue.requeue(s);
    }
  }
}

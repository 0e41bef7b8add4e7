// Preloaded (`node --import`) into a farm worker started under `unshare -rm` (its own user and
// mount namespace): an empty tmpfs goes over every folder named in $DREAMFLOW_TEST_HIDE, so the
// worker cannot see the coordinator's input or work folder. Nothing outside the namespace changes.
import { execFileSync } from 'node:child_process';

for (const dir of (process.env.DREAMFLOW_TEST_HIDE ?? '').split(':').filter(Boolean)) {
  execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=1m', 'tmpfs', dir]);
}

import { join } from 'node:path';
import { readRecord } from '../util/fs.ts';
import type { RunRecord } from './types.ts';

/** run.json of a run dir, typed (null when there is none). */
export function readRunRecord(runDir: string): Promise<RunRecord | null> {
  return readRecord<RunRecord>(join(runDir, 'run.json'), 'krepro.run/1');
}

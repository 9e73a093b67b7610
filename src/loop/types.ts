import type { Verdict, ScenarioRef } from '../run/types.ts';
import type { PatchRecord } from '../build/types.ts';

/** What one run of a loop contributes to the loop's statistics. */
export interface RunSummary {
  index: number;              // global run index in the loop (unique across shards)
  dir: string;                // run dir, relative to the loop dir ("runs/0007")
  verdict: Verdict;
  title: string | null;
  type: string | null;
  unrelated: string[];        // titles of reports that did not match the signature
  /** Seconds from QEMU start to the detection (reproduced) or to the run's end (censored). */
  timeSec: number | null;
  commit: string | null;
  startedAt: string;
  error?: string;
  /** Finding kinds the run's mmcid trace showed; null when it had no trace. */
  evidence?: string[] | null;
  triggers?: import('../verdict/evidence.ts').RunTriggers | null;
  /** Workload seconds before the stall stopped the heartbeats (reproduced runs). */
  stallAfterSec?: number | null;
}

export interface LoopStats {
  runs: number;               // every run that ended (all verdicts)
  valid: number;              // reproduced + not-reproduced: the rate's denominator
  reproduced: number;
  rate: number | null;        // reproduced / valid; null when valid == 0
  ci: [number, number];       // 95% Wilson interval of rate
  verdicts: Record<Verdict, number>;
  ttf: {
    median: number | null;    // seconds, Kaplan-Meier
    events: number;
    censored: number;
    curve: { t: number; s: number; atRisk: number; events: number }[];
  };
  titles: { title: string; count: number }[];
  unrelated: { title: string; count: number }[];
  infraErrors: { count: number; messages: { message: string; count: number }[] };
  /** Bug evidence apart from the stall: runs with a trace, and how many showed `kinds`. */
  evidence: {
    kinds: string[];          // what counts (default fixup-missed-task)
    traced: number;           // valid runs with an mmcid trace: the denominator
    withEvidence: number;
    rate: number | null;
    ci: [number, number];
    byKind: { kind: string; runs: number }[];
  };
  /** Mean per traced run of each trigger count, and the totals. */
  /** Trigger counts of the traced runs: mean per run, total, and per minute of trace (total / trace time). */
  triggers: { runs: number; mean: import('../verdict/evidence.ts').RunTriggers; total: import('../verdict/evidence.ts').RunTriggers; perMinute: import('../verdict/evidence.ts').RunTriggers };
  /** Workload seconds before the stall, over reproduced runs that had heartbeats. */
  stallAfter: { median: number | null; values: number[] };
}

/** The configuration a loop ran; everything but the commit forms its configKey. */
export interface LoopConfig {
  tree: string | null;
  commit: string | null;
  kernel: string | null;      // a given bzImage instead of a build
  buildKey: string | null;
  kernelRelease: string | null;
  profile: string | null;
  configs: string[];
  patches: PatchRecord[];
  cpus: number | null;
  memoryMb: number | null;
  durationSec: number | null;
  accel: string | null;
  append?: string | null;
  signature: string | null;
  title: string | null;
  selfTest: string | null;
}

export interface ShardSpec {
  index: number;              // 0-based
  count: number;
}

/** loop.json */
export interface LoopRecord {
  schema: 'krepro.loop/1';
  id: string;
  createdAt: string;
  updatedAt: string;
  status: 'running' | 'done' | 'stopped-on-first' | 'interrupted' | 'infra-error';
  config: LoopConfig;
  configKey: string;
  plan: { count: number | null; untilSec: number | null; stopOnFirst: boolean };
  shard: ShardSpec | null;
  scenario?: ScenarioRef;     // --scenario the loop took its defaults from
  mergedFrom?: { id: string; shard: ShardSpec | null; runs: number }[];
  runs: RunSummary[];
  stats: LoopStats;
  error?: string;
}

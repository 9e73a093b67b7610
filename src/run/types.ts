import type { Verdict } from '../verdict/verdict.ts';
import type { CrashReport } from '../console/types.ts';
import type { PatchRecord } from '../build/types.ts';

export type { Verdict };

/** Identity of the kernel that ran. */
export interface KernelIdentity {
  tree: string | null;      // path of the user's tree, null for a given bzImage
  commit: string | null;
  buildKey: string | null;
  patches: PatchRecord[];   // reverts (reverted: true) first, then patches, as applied
  bzImage: string;
  version?: string;         // "6.12.117" when known
}

export interface VcpuState {
  cpu: number;
  rip: string;              // hex
  symbol: string | null;    // "mm_cid_get+0x11f/0x200"
  source?: string | null;   // file:line when vmlinux + addr2line were at hand
  interruptsOn?: boolean;   // RFLAGS.IF, when QEMU's registers showed it
  halted?: boolean;         // in hlt (idle)
  hostCpuMs?: number;       // host CPU time its QEMU thread had used when sampled (a sample of a vCPU that did not run says nothing)
  caller?: string | null;   // for a vCPU in a library leaf (_find_first_zero_bit, memset): the first other kernel function found on its stack
  stackScan?: string[];     // kernel text addresses found on top of its stack at the inspection, nearest first (a scan, like the kernel's `? func` lines)
}

export interface RunTimings {
  startedAt: string;        // ISO
  buildMs?: number;
  bootToInitMs?: number | null;
  workloadMs?: number | null;
  detectMs?: number | null;     // from QEMU start to first detection
  detectToExitMs?: number | null;
  lastHeartbeatMs?: number;     // a hang: from QEMU start to the last heartbeat before it
  heartbeatToExitMs?: number;   // a hang: from that heartbeat to QEMU gone
  totalMs: number;
}

export interface WorkloadCounters {
  spawns: number;
  forks: number;
  vforks: number;
  threads: number;
  accepts: number;
  connects?: number;
  cells?: number;               // fresh processes of --workload mode=cells
  t?: number;                   // workload second of the last heartbeat (where a stall stopped it)
  heartbeats: number;
}

/** The first thing that made the run stop: a kernel report's first line, or a hang krepro saw. */
export interface Detection {
  kind: string;                // rule kind (soft-lockup, rcu-stall, ...) or silent-hang
  line: string;
  atMs: number;                // from QEMU start
  rule?: 'silence' | 'vcpu-samples';  // a silent hang: seen by the hang timeout, or by vCPUs stuck across QMP samples
  samples?: number;            // vCPU samples taken before it
}

/** run.json: everything one run left, written atomically at the end. */
export interface RunRecord {
  schema: 'krepro.run/1';
  id: string;
  dir: string;                 // the run dir (absolute)
  verdict: Verdict;
  title: string | null;        // title of the first matching report
  type: string | null;
  report: CrashReport | null;
  unrelated: { title: string; type: string }[];
  signature: string | null;
  detection: Detection | null;
  kernel: KernelIdentity;
  qemu: {
    argv: string[];
    append: string;
    accel: 'kvm' | 'tcg';                     // the accelerator actually used
    accelRequested?: 'auto' | 'kvm' | 'tcg';  // --accel
    accelReason?: string;                     // why that one (a fallback to TCG says what KVM failed at)
    boot?: import('../vm/qemu-args.ts').BootPath; // the boot path actually used (QEMU backend)
    bootReason?: string;                      // set when it is not the one asked for (no qboot image)
    cpus: number;
    memoryMb: number;
  };
  host: { cores: number; kvm: boolean; kvmReason?: string; vhostVsock: boolean; hostname?: undefined };
  timings: RunTimings;
  workload: WorkloadCounters | null;
  vcpus: VcpuState[] | null;   // from QMP on a silent hang
  hangCheck?: { samples: number; lateHeartbeats: number };  // vCPU samples taken while the heartbeat was late (stop-policy.ts), and how many times it went late
  selfTest: string | null;
  durationSec: number;
  error?: string;              // infra-error / skip reason
  analysis?: import('../trace/analyze.ts').TraceSummary | null; // mmcid trace findings when trace.txt has mmcid events
  evidence?: import('../verdict/evidence.ts').RunEvidence;      // what the trace shows of the bug, stall or not
  files: string[];             // artifacts beside run.json
  scenario?: ScenarioRef;      // the --scenario whose defaults this run used
  provenance?: Provenance;     // where the run came from, for reports (run/provenance.ts)
}

/** What a report names the run by, as the bots do (HEAD commit, tree, compiler, reproducer). */
export interface Provenance {
  krepro: { version: string; commit: string | null };   // the krepro that made the run
  head: { commit: string | null; subject: string | null };
  tree: { name: string; url: string | null; spec?: string }; // remote URL, "Debian linux-source-7.2 ..." (spec debian:7.2), never a local path
  compiler: string | null;
  workload: { file: string; sha256: string } | null;     // the guest workload's source
  reproducer: string;                                    // krepro run ... that repeats the run
}

/** Which scenario file a run took its defaults from (`--scenario`). */
export interface ScenarioRef {
  name: string;                // "v6.19-vfork-stall", or the path given
  file: string;                // absolute path of the .json
  sha256: string;              // of its bytes
  description?: string;
}

import { access, constants, mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { tmpdir } from 'node:os';
import { probeArgv, PROBE_EXIT_PORT } from './qemu-args.ts';
import { kvmStartFailure, qemuBinary, runQemuOnce, type QemuOnce } from './qemu.ts';
import { cacheRoot } from '../util/paths.ts';
import { writeJsonAtomic } from '../util/fs.ts';
import { envError } from '../util/errors.ts';

/**
 * Can this host run a KVM guest? Usable means a KVM guest really starts:
 * the CPU has vmx or svm (without them /dev/kvm may exist and open, but
 * QEMU aborts in vCPU setup or crawls), /dev/kvm exists and is writable,
 * and QEMU with `-accel kvm -cpu host` runs a tiny payload to long mode and
 * exits with the payload's code. The cheap checks run every time; the
 * QEMU start is cached per boot of the host (boot_id) and QEMU binary, in
 * <cache>/host/kvm-probe.json.
 */
export interface KvmProbe {
  usable: boolean;
  reason: string;        // what was found: the failure, or how the guest started
  hint?: string;         // the fix, when !usable
  ms?: number;           // the QEMU start, when one ran (cached or not)
  cached?: boolean;      // the QEMU start's result came from this boot's cache
}

export interface KvmProbeRecord {
  bootId: string;
  qemu: string;
  usable: boolean;
  reason: string;
  hint?: string;
  ms?: number;
  at: string;
}

/** What the probe looks at, as plain data (tests give fakes). */
export interface KvmHost {
  cpuinfo: string | null;                     // /proc/cpuinfo, null when unreadable
  devKvm: 'rw' | 'no-access' | 'missing';
  devKvmDetail?: string;                      // "mode 0600, owner 0:0" for the no-access message
  uid?: number;
  bootId: string | null;                      // /proc/sys/kernel/random/boot_id
  qemu: string;                               // the QEMU program
  cached: KvmProbeRecord | null;              // what the cache file holds
  startGuest(): Promise<QemuOnce>;            // run the payload under -accel kvm
  save(rec: KvmProbeRecord): Promise<void>;
  now?(): Date;
}

/** The byte the payload writes to isa-debug-exit, and the exit status QEMU turns it into. */
export const PROBE_VALUE = 0x2a;
export const PROBE_EXIT_CODE = (PROBE_VALUE << 1) | 1;
export const PROBE_TIMEOUT_MS = 8000;

export function cpuHasVirt(cpuinfo: string): boolean {
  return /^flags\s*:.*\b(vmx|svm)\b/m.test(cpuinfo);
}

function noVirtHint(cpuinfo: string): string {
  return /^flags\s*:.*\bhypervisor\b/m.test(cpuinfo)
    ? 'this host is itself a VM: enable nested virtualization on its hypervisor (expose vmx/svm to this VM, e.g. kvm_intel nested=1 and -cpu host) for ~10x faster runs; until then runs use TCG'
    : 'enable VT-x or AMD-V (SVM) in the firmware setup for ~10x faster runs; until then runs use TCG';
}

/** The probe, on a host described as data. Never throws. */
export async function probeKvmOn(h: KvmHost, opts: { fresh?: boolean } = {}): Promise<KvmProbe> {
  if (h.cpuinfo === null) return { usable: false, reason: 'cannot read /proc/cpuinfo: cannot tell whether the CPU has vmx/svm', hint: 'KVM needs Linux with /proc mounted; runs use TCG' };
  if (!cpuHasVirt(h.cpuinfo)) return { usable: false, reason: 'no vmx/svm flag in /proc/cpuinfo (nested virtualization not exposed)', hint: noVirtHint(h.cpuinfo) };
  if (h.devKvm === 'missing') return { usable: false, reason: '/dev/kvm missing', hint: 'modprobe kvm_intel (or kvm_amd), and check that virtualization is enabled in the firmware' };
  if (h.devKvm === 'no-access') {
    return {
      usable: false,
      reason: `/dev/kvm not writable${h.uid !== undefined ? ` by uid ${h.uid}` : ''}${h.devKvmDetail ? ` (${h.devKvmDetail})` : ''}`,
      hint: 'join group kvm (sudo usermod -aG kvm $USER, then log in again), or give /dev/kvm mode 0660 group kvm',
    };
  }
  const c = h.cached;
  if (!opts.fresh && c && h.bootId && c.bootId === h.bootId && c.qemu === h.qemu) {
    return { usable: c.usable, reason: c.reason, hint: c.hint, ms: c.ms, cached: true };
  }
  const r = await h.startGuest();
  const v = judgeStart(r);
  // A QEMU that cannot be started at all may be installed in a minute: not cached.
  if (h.bootId && !r.spawnError) {
    await h.save({ bootId: h.bootId, qemu: h.qemu, usable: v.usable, reason: v.reason, hint: v.hint, ms: r.ms, at: (h.now?.() ?? new Date()).toISOString() }).catch(() => {});
  }
  return { ...v, ms: r.ms, cached: false };
}

/** What one `-accel kvm` start of the payload says about KVM. */
export function judgeStart(r: QemuOnce): { usable: boolean; reason: string; hint?: string } {
  if (r.spawnError) return { usable: false, reason: `qemu -accel kvm could not be started: ${r.spawnError}`, hint: 'apt-get install qemu-system-x86 (or run scripts/setup), or set KREPRO_QEMU' };
  if (r.code === PROBE_EXIT_CODE) return { usable: true, reason: `a KVM guest started and reached long mode in ${r.ms} ms` };
  if (r.timedOut) {
    return {
      usable: false,
      reason: `qemu -accel kvm: a trivial guest did not finish within ${(PROBE_TIMEOUT_MS / 1000).toFixed(0)} s (KVM stuck or far too slow)`,
      hint: 'check dmesg for kvm errors and that the host exposes hardware virtualization; runs use TCG',
    };
  }
  const line = kvmStartFailure(r.stderr) ?? lastLine(r.stderr) ?? `exit ${r.code ?? r.signal}`;
  return { usable: false, reason: `qemu -accel kvm failed: ${line.slice(0, 300)}`, hint: kvmFailureHint(line) };
}

/** The fix for a QEMU that failed in KVM. */
export function kvmFailureHint(line: string): string {
  return /kvm_buf_set_msrs|MSR/i.test(line)
    ? 'KVM here cannot set up a vCPU (typical of nested virtualization without full MSR support): enable nested virtualization properly on the hypervisor, or update QEMU and the host kernel; runs use TCG'
    : 'check dmesg for kvm errors and that /dev/kvm works for this user; runs use TCG (--accel tcg)';
}

function lastLine(s: string): string | null {
  return s.trim().split('\n').map((l) => l.trim()).filter(Boolean).pop() ?? null;
}

/**
 * The payload: a multiboot (a.out kludge) image loaded at 1 MiB. From
 * 32-bit protected mode it loads a GDT with a 64-bit code segment, enables
 * PAE, points CR3 at identity-mapped page tables (one 2 MiB page), sets
 * EFER.LME, turns on paging, jumps to 64-bit code, computes PROBE_VALUE with
 * 64-bit arithmetic and writes it to isa-debug-exit. 16 KiB, mostly zeros.
 */
export function probePayload(): Buffer {
  const base = 0x100000;
  const b = Buffer.alloc(0x4000);
  const magic = 0x1badb002;
  const flags = 0x00010000; // addresses in the header (no ELF)
  b.writeUInt32LE(magic, 0);
  b.writeUInt32LE(flags, 4);
  b.writeUInt32LE((-(magic + flags)) >>> 0, 8);
  b.writeUInt32LE(base, 12);          // header_addr
  b.writeUInt32LE(base, 16);          // load_addr
  b.writeUInt32LE(0, 20);             // load_end_addr: the whole file
  b.writeUInt32LE(0, 24);             // bss_end_addr: none
  b.writeUInt32LE(base + 0x20, 28);   // entry
  const le32 = (v: number) => [v & 0xff, (v >>> 8) & 0xff, (v >>> 16) & 0xff, (v >>> 24) & 0xff];
  const code32 = [
    0xfa,                                   // cli
    0x0f, 0x01, 0x15, ...le32(base + 0xe0), // lgdt [gdtr]
    0x0f, 0x20, 0xe0,                       // mov eax, cr4
    0x83, 0xc8, 0x20,                       // or eax, PAE
    0x0f, 0x22, 0xe0,                       // mov cr4, eax
    0xb8, ...le32(base + 0x1000),           // mov eax, pml4
    0x0f, 0x22, 0xd8,                       // mov cr3, eax
    0xb9, ...le32(0xc0000080),              // mov ecx, EFER
    0x0f, 0x32,                             // rdmsr
    0x0d, ...le32(0x100),                   // or eax, LME
    0x0f, 0x30,                             // wrmsr
    0x0f, 0x20, 0xc0,                       // mov eax, cr0
    0x0d, ...le32(0x80000001),              // or eax, PG|PE
    0x0f, 0x22, 0xc0,                       // mov cr0, eax
    0xea, ...le32(base + 0x80), 0x08, 0x00, // jmp 0x08:code64
  ];
  Buffer.from(code32).copy(b, 0x20);
  const code64 = [
    0x48, 0xb8, 0, 0, 0, 0, PROBE_VALUE, 0, 0, 0, // mov rax, PROBE_VALUE << 32
    0x48, 0xc1, 0xe8, 0x20,                       // shr rax, 32
    0x66, 0xba, PROBE_EXIT_PORT, 0x00,            // mov dx, port
    0xee,                                         // out dx, al
    0xf4,                                         // hlt
    0xeb, 0xfd,                                   // jmp hlt
  ];
  Buffer.from(code64).copy(b, 0x80);
  b.writeBigUInt64LE(0x00af9a000000ffffn, 0xc8);  // 0x08: 64-bit code
  b.writeBigUInt64LE(0x00cf92000000ffffn, 0xd0);  // 0x10: data
  b.writeUInt16LE(23, 0xe0);                      // gdtr: limit
  b.writeUInt32LE(base + 0xc0, 0xe2);             //       base
  b.writeUInt32LE(base + 0x2003, 0x1000);         // PML4[0] -> PDPT
  b.writeUInt32LE(base + 0x3003, 0x2000);         // PDPT[0] -> PD
  b.writeUInt32LE(0x83, 0x3000);                  // PD[0]: 2 MiB at 0, present, writable
  return b;
}

/** Start the payload under an accelerator (the probe uses kvm; tests check the payload under tcg). */
export async function startProbeGuest(accel: 'kvm' | 'tcg', qemu = qemuBinary(), timeoutMs = PROBE_TIMEOUT_MS): Promise<QemuOnce> {
  const dir = await mkdtemp(join(tmpdir(), 'krepro-kvm-probe-'));
  try {
    const payload = join(dir, 'probe.bin');
    await writeFile(payload, probePayload());
    return await runQemuOnce(probeArgv({ binary: qemu, accel, payload }), timeoutMs);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

export const probeCacheFile = (env: NodeJS.ProcessEnv = process.env) => join(cacheRoot(env), 'host', 'kvm-probe.json');

async function readBootId(): Promise<string | null> {
  const s = await readFile('/proc/sys/kernel/random/boot_id', 'utf8').catch(() => '');
  return s.trim() || null;
}

/** This host, as the probe sees it. */
export async function realKvmHost(env: NodeJS.ProcessEnv = process.env): Promise<KvmHost> {
  const file = probeCacheFile(env);
  let devKvm: KvmHost['devKvm'] = 'rw';
  let devKvmDetail: string | undefined;
  try {
    await access('/dev/kvm', constants.R_OK | constants.W_OK);
  } catch (e) {
    devKvm = (e as NodeJS.ErrnoException).code === 'ENOENT' ? 'missing' : 'no-access';
    const st = await stat('/dev/kvm').catch(() => null);
    if (st) devKvmDetail = `mode ${(st.mode & 0o777).toString(8).padStart(4, '0')}, owner ${st.uid}:${st.gid}`;
  }
  const cached = await readFile(file, 'utf8').then((s) => JSON.parse(s) as KvmProbeRecord, () => null);
  const qemu = qemuBinary(env);
  return {
    cpuinfo: await readFile('/proc/cpuinfo', 'utf8').catch(() => null),
    devKvm,
    devKvmDetail,
    uid: process.getuid?.(),
    bootId: await readBootId(),
    qemu,
    cached: cached && typeof cached === 'object' ? cached : null,
    startGuest: () => startProbeGuest('kvm', qemu),
    save: (rec) => writeJsonAtomic(file, rec),
  };
}

const inFlight = new Map<string, Promise<KvmProbe>>();

/** The probe on this host. `fresh` ignores the cache (krepro doctor). */
export function probeKvm(opts: { fresh?: boolean; env?: NodeJS.ProcessEnv } = {}): Promise<KvmProbe> {
  const env = opts.env ?? process.env;
  const key = `${probeCacheFile(env)}|${qemuBinary(env)}|${opts.fresh ? 'fresh' : ''}`;
  let p = inFlight.get(key);
  if (!p) {
    // Concurrent callers in one process share one probe; later calls re-read the cache.
    p = realKvmHost(env).then((h) => probeKvmOn(h, opts)).finally(() => inFlight.delete(key));
    inFlight.set(key, p);
  }
  return p;
}

/** A run saw QEMU fail in KVM itself: remember it for this boot, so later runs go straight to TCG. */
export async function recordKvmFailure(reason: string, env: NodeJS.ProcessEnv = process.env): Promise<void> {
  const bootId = await readBootId();
  if (!bootId) return;
  const rec: KvmProbeRecord = { bootId, qemu: qemuBinary(env), usable: false, reason, hint: kvmFailureHint(reason), at: new Date().toISOString() };
  await writeJsonAtomic(probeCacheFile(env), rec).catch(() => {});
}

/** The accelerator a run uses, and why. */
export interface AccelChoice {
  accel: 'kvm' | 'tcg';
  requested: 'auto' | 'kvm' | 'tcg';
  reason: string;
  fellBack: boolean;      // auto wanted KVM and got TCG
}

/**
 * --accel auto|kvm|tcg and the probe -> the accelerator. `--accel kvm` on
 * a host where KVM cannot start a guest is an environment error (exit 255)
 * naming the reason. `probe` may be null only for tcg.
 */
export function decideAccel(requested: AccelChoice['requested'], probe: KvmProbe | null): AccelChoice {
  if (requested === 'tcg') return { accel: 'tcg', requested, reason: 'TCG requested (--accel tcg)', fellBack: false };
  if (!probe) throw new Error(`decideAccel: --accel ${requested} needs the KVM probe`);
  if (probe.usable) return { accel: 'kvm', requested, reason: `KVM ${requested === 'kvm' ? 'requested (--accel kvm)' : 'chosen by --accel auto'}: ${probe.reason}`, fellBack: false };
  if (requested === 'kvm') throw envError(`--accel kvm: KVM cannot start a guest here: ${probe.reason}; use --accel tcg or --accel auto (krepro doctor says how to fix KVM)`);
  return { accel: 'tcg', requested, reason: `KVM cannot start a guest here: ${probe.reason}; using TCG`, fellBack: true };
}

/** After a KVM start failure under --accel auto: the TCG retry's choice. */
export function fallBackToTcg(kvmFailure: string): AccelChoice {
  return { accel: 'tcg', requested: 'auto', reason: `KVM failed when QEMU started: ${kvmFailure}; fell back to TCG`, fellBack: true };
}

/** Says a fallback to TCG on stderr once per process (a loop runs many runs). */
export function fallbackNotifier(write: (s: string) => void = (s) => void process.stderr.write(s)): (c: AccelChoice) => void {
  let said = false;
  return (c) => {
    if (!c.fellBack || said) return;
    said = true;
    write(`krepro: ${c.reason}\n`);
  };
}

import { execa } from 'execa';
import { access, constants } from 'node:fs/promises';
import { cpus } from 'node:os';
import { findDebianTarball } from '../source/debian.ts';
import { vngFact } from '../vm/vng.ts';
import { probeKvm, type KvmProbe } from '../vm/kvm.ts';
import { freeBytes, vhostVsockUsable } from '../host/facts.ts';

/**
 * Host facts for `krepro doctor` and for run.json. Each probe is cheap and
 * never throws: a missing tool is a fact with a fix hint.
 */
export interface Fact {
  name: string;
  ok: boolean;
  value: string;
  hint?: string;      // what to do when !ok (or how it limits runs)
  required: boolean;
  detail?: Record<string, unknown>; // structured form for doctor --json (kvm: the probe)
}

async function version(cmd: string, args: string[], pick = (s: string) => s.split('\n')[0]): Promise<string | null> {
  try {
    const r = await execa(cmd, args, { reject: false, timeout: 10_000 });
    if (r.exitCode !== 0 && !r.stdout) return null;
    return pick(String(r.stdout || r.stderr)).trim();
  } catch {
    return null;
  }
}

/** The kvm line of `krepro doctor`: what failed and the fix, or how the guest started. */
export function kvmFact(p: KvmProbe): Fact {
  const detail = { usable: p.usable, reason: p.reason, ...(p.hint && !p.usable ? { fix: p.hint } : {}), ...(p.ms !== undefined ? { qemuStartMs: p.ms } : {}) };
  return p.usable
    ? { name: 'kvm', ok: true, value: `usable: ${p.reason}`, required: false, detail }
    : { name: 'kvm', ok: false, value: `not usable: ${p.reason}; runs use TCG (slower, still real)`, hint: p.hint, required: false, detail };
}

/**
 * `freshKvm` (default true, for doctor) re-runs the KVM probe's QEMU start
 * instead of trusting this boot's cache; `onFact` hears each fact as soon as
 * it is known (doctor prints them as they come: the KVM probe alone takes a
 * QEMU start).
 */
export async function collectFacts(cacheDir: string, opts: { freshKvm?: boolean; onFact?: (f: Fact) => void } = {}): Promise<Fact[]> {
  const all: Fact[] = [];
  const facts = { push: (f: Fact) => { all.push(f); opts.onFact?.(f); } };
  const qemu = await version('qemu-system-x86_64', ['--version']);
  facts.push({ name: 'qemu', ok: !!qemu, value: qemu ?? 'missing', hint: qemu ? undefined : 'apt-get install qemu-system-x86 (or run scripts/setup)', required: true });
  facts.push(kvmFact(await probeKvm({ fresh: opts.freshKvm ?? true })));
  const vv = await vhostVsockUsable();
  facts.push({ name: 'vhost-vsock', ok: vv, value: vv ? '/dev/vhost-vsock usable' : 'missing: the guest uses vsock loopback only', hint: vv ? undefined : 'modprobe vhost_vsock to also drive the guest listener from the host', required: false });
  const cc = await version('ccache', ['--version']);
  facts.push({ name: 'ccache', ok: !!cc, value: cc ?? 'missing', hint: cc ? undefined : 'apt-get install ccache: rebuilds take ~2 min instead of ~13', required: false });
  const gcc = await version('gcc', ['--version']);
  facts.push({ name: 'gcc', ok: !!gcc, value: gcc ?? 'missing', hint: gcc ? undefined : 'run scripts/setup', required: true });
  const make = await version('make', ['--version']);
  facts.push({ name: 'make', ok: !!make, value: make ?? 'missing', hint: make ? undefined : 'run scripts/setup', required: true });
  const bb = await version('busybox', ['--help'], (s) => s.split('\n')[0]);
  let bbStatic = false;
  try {
    await access('/bin/busybox', constants.R_OK);
    const f = await execa('file', ['-L', '/bin/busybox'], { reject: false });
    bbStatic = /statically linked|static-pie/.test(String(f.stdout)) || f.exitCode !== 0;
  } catch {
    bbStatic = false;
  }
  facts.push({ name: 'busybox-static', ok: !!bb && bbStatic, value: bb ?? 'missing', hint: bb && bbStatic ? undefined : 'apt-get install busybox-static (the guest initramfs needs it)', required: true });
  const n = cpus().length;
  facts.push({ name: 'cores', ok: n >= 2, value: String(n), hint: n >= 2 ? undefined : 'one core: builds and TCG guests will be very slow', required: false });
  const free = await freeBytes(cacheDir);
  const gib = free === null ? null : free / 2 ** 30;
  facts.push({ name: 'disk', ok: gib !== null && gib >= 10, value: gib === null ? `cannot stat ${cacheDir}` : `${gib.toFixed(1)} GiB free in ${cacheDir}`, hint: gib !== null && gib >= 10 ? undefined : 'a tree plus a few builds needs ~10 GiB: free space or set KREPRO_CACHE', required: true });
  const src = await findDebianTarball();
  facts.push({ name: 'kernel-source', ok: !!src, value: src ?? 'linux-source-6.12 not installed', hint: src ? undefined : 'apt-get install linux-source-6.12 (the default tree), or pass --tree', required: false });
  facts.push({ name: 'vng', ...(await vngFact()), required: false });
  return all;
}


import type { SelfTest } from '../image/guest-cmdline.ts';
import type { BootPath } from './qemu-args.ts';

/**
 * The guest kernel command line, one documented item at a time. Defaults
 * make a stall in the CID code show up within ~30 s and end the guest on its
 * own with the evidence on the console:
 *
 * - console=ttyS0,115200        console on the first serial port (the
 *                               second one, ttyS1, carries artifacts)
 * - panic=-1                    reboot at once on panic; QEMU runs with
 *                               -no-reboot, so a panic ends the VM
 * - softlockup_panic=1          panic after the first soft lockup report...
 * - softlockup_all_cpu_backtrace=1  ...with every CPU's stack first
 * - sysctl.kernel.panic_on_rcu_stall=1  same for RCU stalls
 * - hung_task_panic=1           and hung tasks
 * - watchdog_thresh=10          soft lockup reported after 2 x 10 s
 * - rcupdate.rcu_cpu_stall_timeout=21  RCU stall reported after 21 s
 * - sysctl.kernel.hung_task_timeout_secs=20  hung task reported after
 *                               20-40 s (there is no plain boot parameter)
 * - ftrace_dump_on_oops         the trace buffer goes to the console on
 *                               panic/oops: trace.txt is cut from there
 * - unknown_nmi_panic=1         an NMI injected through QMP on a silent hang
 *                               makes the kernel panic (and dump) too
 * - crash_kexec_post_notifiers  the panic stops the other CPUs with an NMI
 *                               (crash_smp_send_stop(), CONFIG_CRASH_DUMP in
 *                               kconfigs/detectors.config) rather than an IPI
 *                               that stalled CPUs, interrupts off, cannot
 *                               take: that path waits 1 s of udelay(1) loops,
 *                               ~2.9 s under TCG, on every stall. No crash
 *                               kernel is loaded, so kexec does nothing.
 * - log_buf_len=1M              a panic from the NMI of a silent hang only
 *                               stores printk records until its end, so the
 *                               backtraces and the trace dump must fit the log
 *                               buffer at once; the default 128 KB
 *                               (CONFIG_LOG_BUF_SHIFT=17) lost the panic and
 *                               the dump's header under a 16 KB/CPU dump
 * - nokaslr                     addresses match System.map
 * - TCG only: highres=off and lpj=<host TSC kHz * 1000 / HZ>. Under TCG the
 *   delay loop calibrates to random values, and an `hrtimer: interrupt took`
 *   message written through the serial console touches the softlockup
 *   watchdog and hid two 25 s lockups (../shared/docs/kernel-notes.md).
 *   Under KVM neither trap applies and the kernel's own defaults are better.
 *
 * - boot paths fast and pvh only: fastBootCmdline() below.
 *
 * Self-tests use shorter thresholds that match the test_lockup parameters
 * the guest init loads, and keep the other detectors out of the way so the
 * condition under test is the one reported first (a 25 s preempt-off spin
 * is also an RCU stall after 5 s).
 */
export interface CmdlineInput {
  accel: 'kvm' | 'tcg';
  hz: number;                    // CONFIG_HZ of the kernel
  tscKhz: number | null;         // host TSC frequency
  selfTest?: SelfTest | null;
  guestItems: string[];          // krepro.* items for the guest init
  profileAppend?: string[];      // from the profile (`@append` lines)
  userAppend?: string;           // --append
  boot?: BootPath;               // default legacy: the command line krepro always used
}

export function kernelCmdline(i: CmdlineInput): string {
  const items: string[] = [
    'console=ttyS0,115200',
    'panic=-1',
    'softlockup_panic=1',
    'softlockup_all_cpu_backtrace=1',
    'sysctl.kernel.panic_on_rcu_stall=1',
    'hung_task_panic=1',
    'ftrace_dump_on_oops',
    'unknown_nmi_panic=1',
    'crash_kexec_post_notifiers',
    'log_buf_len=1M',
    'nokaslr',
  ];
  if (i.selfTest) items.push(...selfTestThresholds(i.selfTest));
  else items.push('watchdog_thresh=10', 'rcupdate.rcu_cpu_stall_timeout=21', 'sysctl.kernel.hung_task_timeout_secs=20');
  if (i.accel === 'tcg') {
    items.push('highres=off');
    if (i.tscKhz && i.hz) items.push(`lpj=${Math.round((i.tscKhz * 1000) / i.hz)}`);
  }
  if (i.boot === 'fast' || i.boot === 'pvh') items.push(...fastBootCmdline(i.accel === 'tcg' ? i.tscKhz : null));
  items.push(...(i.profileAppend ?? []), ...i.guestItems);
  if (i.userAppend?.trim()) items.push(i.userAppend.trim());
  return items.join(' ');
}

/**
 * The kernel's own boot time, cut where initcall_debug showed it goes
 * under TCG (docs in README "Boot paths"), without changing what a run
 * tests:
 * - no_timer_check  skip the IO-APIC timer check: it busy-waits for timer
 *                   ticks and, on a loaded TCG host, panicked the boot
 *                   ("IO-APIC + timer doesn't work!")
 * - pty.legacy_count=0  no 256 pairs of BSD ptys (/dev/ptyXX), which
 *                   nothing in the guest uses: pty_init was one of the
 *                   largest initcalls (~170 ms)
 * - tsc_early_khz=<host TSC kHz>  TCG only: the guest's TSC is the host's
 *                   (QEMU reads the host counter), so its rate is known;
 *                   without it the early calibration fails under TCG
 *                   ("Fast TSC calibration failed", "Unable to calibrate
 *                   against PIT") and the kernel spends boot time
 *                   calibrating against the HPET instead. Same source as lpj.
 */
export function fastBootCmdline(tcgTscKhz: number | null = null): string[] {
  return ['no_timer_check', 'pty.legacy_count=0', ...(tcgTscKhz ? [`tsc_early_khz=${tcgTscKhz}`] : [])];
}

/** Host TSC frequency in kHz from /proc/cpuinfo text ("cpu MHz : 2096.060"). */
export function tscKhzFromCpuinfo(text: string): number | null {
  const m = /^cpu MHz\s*:\s*([\d.]+)/m.exec(text);
  return m ? Math.round(Number(m[1]) * 1000) : null;
}

export function hzFromConfig(configText: string): number {
  const m = /^CONFIG_HZ=(\d+)/m.exec(configText);
  return m ? Number(m[1]) : 250;
}

/** Thresholds per self-test: the detector under test fires first. */
export function selfTestThresholds(t: SelfTest): string[] {
  switch (t) {
    case 'soft-lockup':
      return ['watchdog_thresh=5', 'rcupdate.rcu_cpu_stall_timeout=60', 'sysctl.kernel.hung_task_timeout_secs=60'];
    case 'rcu-stall':
      return ['watchdog_thresh=20', 'rcupdate.rcu_cpu_stall_timeout=5', 'sysctl.kernel.hung_task_timeout_secs=60'];
    case 'hung-task':
      return ['watchdog_thresh=20', 'rcupdate.rcu_cpu_stall_timeout=60', 'sysctl.kernel.hung_task_timeout_secs=10'];
    case 'silent-hang':
      // Every CPU spins with interrupts off: no detector in the guest can
      // fire (TCG has no NMI watchdog); only the host sees the silence.
      return ['watchdog_thresh=20', 'rcupdate.rcu_cpu_stall_timeout=60', 'sysctl.kernel.hung_task_timeout_secs=60'];
  }
}

/**
 * Hand-made mmcid traces for the analyzer tests, written in either of the two
 * shapes real kernels print: the console ftrace dump (latency format, usecs,
 * printk time in front) and the tracefs `trace` file (seconds, [CPU]).
 */
export type Shape = 'console' | 'tracefs';

export interface Ev {
  comm?: string;
  pid: number;   // the task recording the event
  cpu: number;   // the CPU it is recorded on
  ev: string;    // event name
  body: string;
}

export class TraceWriter {
  private lines: string[] = [];
  private usec = 1_000_000;
  constructor(private shape: Shape, header = true, cpus = 4) {
    if (shape === 'tracefs' && header) {
      this.lines.push('# tracer: nop', '#', `# entries-in-buffer/entries-written: 0/0   #P:${cpus}`, '#');
    }
  }
  add(e: Ev): this {
    this.usec += 7;
    const comm = e.comm ?? (e.pid === 0 ? '<idle>' : `task${e.pid}`);
    if (this.shape === 'console') {
      const pt = (this.usec / 1e6 + 3.1).toFixed(6).padStart(12);
      this.lines.push(`[${pt}] ${comm.slice(0, 8)}-${e.pid}    ${e.cpu}d..1. ${this.usec}us : ${e.ev}: ${e.body}`);
    } else {
      const ts = (this.usec / 1e6).toFixed(6).padStart(12);
      this.lines.push(`${comm.padStart(16)}-${String(e.pid).padEnd(7)} [${String(e.cpu).padStart(3, '0')}] d..1. ${ts}: ${e.ev}: ${e.body}`);
    }
    return this;
  }
  raw(line: string): this { this.lines.push(line); return this; }
  wait(usec: number): this { this.usec += usec; return this; }
  text(): string { return this.lines.join('\n') + '\n'; }

  // mmcid events
  userAdd(by: number, cpu: number, pid: number, users: number, mm: string) {
    return this.add({ pid: by, cpu, ev: 'mmcid_user_add', body: `pid=${pid} users=${users} mm=${mm}` });
  }
  userDel(by: number, cpu: number, pid: number, users: number, mm: string) {
    return this.add({ pid: by, cpu, ev: 'mmcid_user_del', body: `pid=${pid} users=${users} mm=${mm}` });
  }
  getcid(by: number, cpu: number, mm: string, cid: number) {
    return this.add({ pid: by, cpu, ev: 'mmcid_getcid', body: `mm=${mm} cid=${hex(cid)}` });
  }
  putcid(by: number, cpu: number, mm: string, cid: number) {
    return this.add({ pid: by, cpu, ev: 'mmcid_putcid', body: `mm=${mm} cid=${hex(cid)}` });
  }
  task(by: number, cpu: number, pid: number, cid: number, mm: string) {
    return this.add({ pid: by, cpu, ev: 'mmcid_task_update', body: `pid=${pid} cid=${hex(cid)} mm=${mm}` });
  }
  cpuCid(by: number, cpu: number, slot: number, cid: number, mm: string) {
    return this.add({ pid: by, cpu, ev: 'mmcid_cpu_update', body: `cpu=${slot} cid=${hex(cid)} mm=${mm}` });
  }
  fixup(by: number, cpu: number, pid: number, cid: number, users: number, mm: string) {
    return this.add({ pid: by, cpu, ev: 'mmcid_fixup_task', body: `pid=${pid} cid=${hex(cid)} active=1 users=${users} mm=${mm}` });
  }
  switchTo(cpu: number, prev: number, next: number) {
    return this.add({
      pid: prev, cpu, ev: 'sched_switch',
      body: `prev_comm=task${prev} prev_pid=${prev} prev_prio=120 prev_state=S ==> next_comm=task${next} next_pid=${next} next_prio=120`,
    });
  }
  exit(pid: number, cpu: number) {
    return this.add({ pid, cpu, ev: 'sched_process_exit', body: `comm=task${pid} pid=${pid} prio=120` });
  }
}

export const hex = (v: number) => (v >>> 0).toString(16).padStart(8, '0');
export const UNSET612 = 0xffffffff;
export const UNSET619 = 0x80000000;
export const ONCPU = 0x40000000;
export const TRANSIT = 0x20000000;

/**
 * 6.12-style life of a task in an mm (our patch): switch in takes a CID on
 * the CPU (getcid + cpu_update) unless the CPU already has one, the task gets
 * the CPU's CID; switch out clears the task's CID; exit puts the CPU's CID.
 */
export class Sim612 {
  readonly cpuCid = new Map<string, number>();   // `${mm}:${cpu}` -> cid
  readonly taken = new Map<string, Set<number>>();
  constructor(readonly w: TraceWriter, readonly cpus = 4) {}
  private bits(mm: string) {
    let s = this.taken.get(mm);
    if (!s) this.taken.set(mm, (s = new Set()));
    return s;
  }
  switchIn(cpu: number, prev: number, pid: number, mm: string) {
    this.w.switchTo(cpu, prev, pid);
    const key = `${mm}:${cpu}`;
    let c = this.cpuCid.get(key);
    if (c === undefined) {
      const bits = this.bits(mm);
      c = 0;
      while (bits.has(c)) c++;
      bits.add(c);
      this.w.getcid(prev, cpu, mm, c);
      this.cpuCid.set(key, c);
      this.w.cpuCid(prev, cpu, cpu, c, mm);
    }
    this.w.task(prev, cpu, pid, c, mm);
    return this;
  }
  switchOut(cpu: number, pid: number, next: number, mm: string) {
    this.w.task(pid, cpu, pid, UNSET612, mm);
    this.w.switchTo(cpu, pid, next);
    return this;
  }
  /** exit_signals on `cpu`: user_del, then the CPU's CID goes back (unless leak). */
  exit(cpu: number, pid: number, usersAfter: number, mm: string, leak = false) {
    this.w.userDel(pid, cpu, pid, usersAfter, mm);
    const key = `${mm}:${cpu}`;
    const c = this.cpuCid.get(key);
    if (c !== undefined) {
      this.w.cpuCid(pid, cpu, cpu, UNSET612, mm);
      this.cpuCid.delete(key);
      if (!leak) {
        this.w.putcid(pid, cpu, mm, c);
        this.bits(mm).delete(c);
      }
    }
    this.w.exit(pid, cpu);
    return this;
  }
}

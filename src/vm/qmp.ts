import { createConnection, type Socket } from 'node:net';

/**
 * A minimal QMP client over QEMU's unix socket: connect, negotiate
 * capabilities, run commands one at a time. Used on a silent hang to read
 * every vCPU's registers and to inject an NMI, and to quit QEMU cleanly.
 */
export class Qmp {
  private sock: Socket;
  private buf = '';
  private waiters: ((msg: Record<string, unknown>) => void)[] = [];
  private closed = false;

  private constructor(sock: Socket) {
    this.sock = sock;
    sock.setEncoding('utf8');
    sock.on('data', (d: string) => {
      this.buf += d;
      let i;
      while ((i = this.buf.indexOf('\n')) >= 0) {
        const line = this.buf.slice(0, i).trim();
        this.buf = this.buf.slice(i + 1);
        if (!line) continue;
        let msg: Record<string, unknown>;
        try {
          msg = JSON.parse(line);
        } catch {
          continue;
        }
        if ('event' in msg) continue;
        const w = this.waiters.shift();
        w?.(msg);
      }
    });
    sock.on('close', () => {
      this.closed = true;
      for (const w of this.waiters.splice(0)) w({ error: { desc: 'QMP connection closed' } });
    });
    sock.on('error', () => {});
  }

  static async connect(path: string, timeoutMs = 5000): Promise<Qmp> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      try {
        const sock = await new Promise<Socket>((resolve, reject) => {
          const s = createConnection(path);
          s.once('connect', () => resolve(s));
          s.once('error', reject);
        });
        const q = new Qmp(sock);
        await q.next(); // greeting
        const r = await q.execute('qmp_capabilities');
        if (r.error) throw new Error(String(JSON.stringify(r.error)));
        return q;
      } catch (e) {
        if (Date.now() > deadline) throw new Error(`cannot connect to QMP at ${path}: ${(e as Error).message}`);
        await new Promise((r) => setTimeout(r, 100));
      }
    }
  }

  private next(timeoutMs = 10_000): Promise<Record<string, unknown>> {
    return new Promise((resolve) => {
      const t = setTimeout(() => resolve({ error: { desc: 'QMP timeout' } }), timeoutMs);
      this.waiters.push((m) => {
        clearTimeout(t);
        resolve(m);
      });
    });
  }

  async execute(command: string, args?: Record<string, unknown>, timeoutMs = 10_000): Promise<{ return?: unknown; error?: unknown }> {
    if (this.closed) return { error: { desc: 'QMP connection closed' } };
    const p = this.next(timeoutMs);
    this.sock.write(JSON.stringify(args ? { execute: command, arguments: args } : { execute: command }) + '\n');
    return p as Promise<{ return?: unknown; error?: unknown }>;
  }

  async hmp(commandLine: string): Promise<string> {
    const r = await this.execute('human-monitor-command', { 'command-line': commandLine });
    if (r.error) throw new Error(`QMP ${commandLine}: ${JSON.stringify(r.error)}`);
    return String(r.return ?? '');
  }

  close(): void {
    this.sock.destroy();
  }
}

/** One vCPU in `info registers -a`. */
export interface CpuRegisters {
  cpu: number;
  rip: string;                 // hex, lower case
  rflags?: number;             // RFL
  interruptsOn?: boolean;      // RFL.IF (bit 9)
  halted?: boolean;            // HLT=1: the vCPU sits in hlt (idle)
  cpl?: number;                // 0: kernel
  hostCpuMs?: number;          // host CPU time of the vCPU's thread so far (launcher.ts, from /proc)
}

/** Parse `info registers -a` output: per CPU its RIP, flags, halt state and privilege level. */
export function parseRegisters(text: string): CpuRegisters[] {
  const out: CpuRegisters[] = [];
  let cpu = -1;
  let cur: CpuRegisters | null = null;
  for (const line of text.split('\n')) {
    const c = /^CPU#(\d+)/.exec(line);
    if (c) {
      cpu = Number(c[1]);
      cur = null;
      continue;
    }
    const r = /\bRIP=([0-9a-fA-F]{8,16})\b/.exec(line);
    if (r) {
      cur = { cpu: cpu >= 0 ? cpu : out.length, rip: r[1].toLowerCase() };
      out.push(cur);
      cpu = -1;
    }
    // QEMU prints RFL, CPL and HLT on the RIP line.
    const f = /\bRFL=([0-9a-fA-F]+)\b/.exec(line);
    if (f && cur && cur.rflags === undefined) {
      cur.rflags = parseInt(f[1], 16);
      cur.interruptsOn = (cur.rflags & 0x200) !== 0;
      const cpl = /\bCPL=(\d)/.exec(line);
      if (cpl) cur.cpl = Number(cpl[1]);
      const hlt = /\bHLT=(\d)/.exec(line);
      if (hlt) cur.halted = hlt[1] === '1';
    }
  }
  return out;
}

/** HMP `x/Ngx` output ("ffff88800a0cfe58: 0xffffffff81275fcc 0x0000000000000000") -> the words, hex without 0x. */
export function parseMemoryDump(text: string): string[] {
  const out: string[] = [];
  for (const line of text.split(/\r?\n/)) {
    const m = /^\s*[0-9a-fA-F]+:\s*(.*)$/.exec(line);
    if (!m) continue;
    for (const w of m[1].trim().split(/\s+/)) if (/^0x[0-9a-fA-F]+$/.test(w)) out.push(w.slice(2).toLowerCase().padStart(16, '0'));
  }
  return out;
}

import type { BuildResult } from '../build/types.ts';
import type { CpuRegisters } from '../vm/qmp.ts';
import { loadSystemMap, symbolize, sourceLines, type SymbolTable } from '../vm/symbols.ts';
import type { VcpuState } from './types.ts';

/**
 * QEMU's vCPU registers -> VcpuState: the symbol from the build's
 * System.map (read once per run), file:line from vmlinux only when asked
 * (the final inspection, not every sample: addr2line is slow).
 */
/** Stack words (hex) -> text symbols from the build's System.map, null for words that are not text addresses. */
export function wordSymbolizer(build: BuildResult | null): (words: string[]) => Promise<(string | null)[]> {
  let map: Promise<SymbolTable | null> | null = null;
  return async (words) => {
    map ??= build ? loadSystemMap(build.systemMap) : Promise.resolve(null);
    const table = await map;
    return words.map((w) => (table && /^ffffffff/.test(w) ? symbolize(table, w) : null));
  };
}

export function vcpuSymbolizer(build: BuildResult | null): (regs: CpuRegisters[], withSource: boolean) => Promise<VcpuState[]> {
  let map: Promise<SymbolTable | null> | null = null;
  return async (regs, withSource) => {
    map ??= build ? loadSystemMap(build.systemMap) : Promise.resolve(null);
    const table = await map;
    const lines = build && withSource ? await sourceLines(build.vmlinux, regs.map((r) => r.rip)) : null;
    return regs.map((r, i) => ({
      cpu: r.cpu,
      rip: r.rip,
      symbol: table ? symbolize(table, r.rip) : null,
      ...(withSource ? { source: lines?.[i] ?? null } : {}),
      ...(r.interruptsOn !== undefined ? { interruptsOn: r.interruptsOn } : {}),
      ...(r.halted !== undefined ? { halted: r.halted } : {}),
      ...(r.hostCpuMs !== undefined ? { hostCpuMs: r.hostCpuMs } : {}),
    }));
  };
}

import type { BuildResult } from '../build/types.ts';
import type { CpuRegisters } from '../vm/qmp.ts';
import { loadSystemMap, symbolize, sourceLines, type SymbolTable } from '../vm/symbols.ts';
import type { VcpuState } from './types.ts';

export interface VcpuSymbolizers {
  /** QEMU's vCPU registers -> VcpuState; file:line from vmlinux only when asked (the final inspection, not every sample: addr2line is slow). */
  symbolize: (regs: CpuRegisters[], withSource: boolean) => Promise<VcpuState[]>;
  /** Stack words (hex) -> text symbols, null for words that are not text addresses. */
  symbolizeWords: (words: string[]) => Promise<(string | null)[]>;
}

/** Both lookups over the build's System.map, read once per run and shared. */
export function vcpuSymbolizers(build: BuildResult | null): VcpuSymbolizers {
  let map: Promise<SymbolTable | null> | null = null;
  const table = () => (map ??= build ? loadSystemMap(build.systemMap) : Promise.resolve(null));
  return {
    symbolize: async (regs, withSource) => {
      const t = await table();
      const lines = build && withSource ? await sourceLines(build.vmlinux, regs.map((r) => r.rip)) : null;
      return regs.map((r, i) => ({
        cpu: r.cpu,
        rip: r.rip,
        symbol: t ? symbolize(t, r.rip) : null,
        ...(withSource ? { source: lines?.[i] ?? null } : {}),
        ...(r.interruptsOn !== undefined ? { interruptsOn: r.interruptsOn } : {}),
        ...(r.halted !== undefined ? { halted: r.halted } : {}),
        ...(r.hostCpuMs !== undefined ? { hostCpuMs: r.hostCpuMs } : {}),
      }));
    },
    symbolizeWords: async (words) => {
      const t = await table();
      return words.map((w) => (t && /^ffffffff/.test(w) ? symbolize(t, w) : null));
    },
  };
}

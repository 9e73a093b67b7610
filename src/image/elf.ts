/**
 * Just enough ELF to tell whether an executable can run in an initramfs with
 * no libraries: a static executable has no PT_INTERP program header.
 */
const PT_INTERP = 3;

export interface ElfFacts {
  class: 32 | 64;
  machine: number;      // e_machine: 62 = x86-64
  interpreter: string | null;
}

export function elfFacts(buf: Uint8Array): ElfFacts | null {
  const b = Buffer.from(buf.buffer, buf.byteOffset, buf.byteLength);
  if (b.length < 64 || b[0] !== 0x7f || b.toString('ascii', 1, 4) !== 'ELF') return null;
  const is64 = b[4] === 2;
  const le = b[5] === 1;
  const u16 = (o: number) => (le ? b.readUInt16LE(o) : b.readUInt16BE(o));
  const u32 = (o: number) => (le ? b.readUInt32LE(o) : b.readUInt32BE(o));
  const u64 = (o: number) => Number(le ? b.readBigUInt64LE(o) : b.readBigUInt64BE(o));
  const machine = u16(18);
  const phoff = is64 ? u64(32) : u32(28);
  const phentsize = u16(is64 ? 54 : 42);
  const phnum = u16(is64 ? 56 : 44);
  let interpreter: string | null = null;
  for (let i = 0; i < phnum; i++) {
    const ph = phoff + i * phentsize;
    if (ph + phentsize > b.length) return null;
    if (u32(ph) !== PT_INTERP) continue;
    const off = is64 ? u64(ph + 8) : u32(ph + 4);
    const size = is64 ? u64(ph + 32) : u32(ph + 16);
    if (off + size > b.length) return null;
    interpreter = b.toString('utf8', off, off + size).replace(/\0+$/, '');
  }
  return { class: is64 ? 64 : 32, machine, interpreter };
}

export function isStaticExecutable(buf: Uint8Array): boolean {
  const f = elfFacts(buf);
  return f !== null && f.interpreter === null;
}

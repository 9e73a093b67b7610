/**
 * MM CID values as the mmcid events print them (`cid=%08x`), for both designs:
 * - v6.19+: MM_CID_UNSET = 0x80000000, 0x40000000 = owned by a CPU,
 *   0x20000000 = in transit between task and CPU ownership;
 * - 6.12 (our patch): MM_CID_UNSET = 0xffffffff, 0x80000000|cid = a per-CPU
 *   CID waiting for a lazy put (the CID bit is still taken).
 */
export interface CidValue {
  raw: number;
  unset: boolean;
  lazy: boolean;     // 6.12 lazy put pending
  onCpu: boolean;    // v6.19 owned by a CPU
  transit: boolean;  // v6.19 in transit
  cid: number | null;
}

export const CID_UNSET_619 = 0x80000000;
export const CID_UNSET_612 = 0xffffffff;

/**
 * 0x80000000 is MM_CID_UNSET on v6.19+ but CID 0 waiting for a lazy put on
 * 6.12: pass the design when it is known.
 */
export function decodeCid(raw: number, design: '6.12' | '6.19' | 'unknown' = 'unknown'): CidValue {
  const r = raw >>> 0;
  if (r === CID_UNSET_619 && design === '6.12') {
    return { raw: r, unset: false, lazy: true, onCpu: false, transit: false, cid: 0 };
  }
  if (r === CID_UNSET_612 || r === CID_UNSET_619) {
    return { raw: r, unset: true, lazy: false, onCpu: false, transit: false, cid: null };
  }
  if (r & 0x80000000) {
    return { raw: r, unset: false, lazy: true, onCpu: false, transit: false, cid: r & 0x7fffffff };
  }
  return {
    raw: r, unset: false, lazy: false,
    onCpu: (r & 0x40000000) !== 0, transit: (r & 0x20000000) !== 0, cid: r & 0x1fffffff,
  };
}

/** A CID value as the kernel prints it. */
export const hex8 = (v: number) => (v >>> 0).toString(16).padStart(8, '0');

/** Words for a value: "CID 00000003", "CID 3 (on CPU)", "unset". */
export function describeCid(raw: number, design: '6.12' | '6.19' | 'unknown' = 'unknown'): string {
  const v = decodeCid(raw, design);
  if (v.unset) return `unset (${hex8(raw)})`;
  const tags = [v.onCpu && 'owned by CPU', v.transit && 'in transit', v.lazy && 'lazy put'].filter(Boolean);
  return `CID ${hex8(raw)}` + (tags.length ? ` (CID ${v.cid}, ${tags.join(', ')})` : '');
}

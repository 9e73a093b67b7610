import { simulate } from '../../src/bisect/simulate.ts';

/** Simulated bisection (500 commits, q=0.02, 200 trials): accuracy and cost per rate, ours and syzkaller's. */
export async function bench(): Promise<Record<string, number | string>> {
  const t0 = Date.now();
  const res = await simulate({ trials: 200, seed: 1 });
  const out: Record<string, number | string> = {};
  for (const r of res.rows) {
    const k = `p${r.rate}`;
    out[`bisect.${k}.krepro.accuracy`] = r.krepro.accuracy;
    out[`bisect.${k}.krepro.costHours`] = +(r.krepro.meanCost / 3600).toFixed(2);
    out[`bisect.${k}.krepro.runs`] = +r.krepro.meanRuns.toFixed(1);
    out[`bisect.${k}.syzkaller.accuracy`] = r.syzkaller.accuracy;
    out[`bisect.${k}.syzkaller.costHours`] = +(r.syzkaller.meanCost / 3600).toFixed(2);
  }
  out['bisect.simulateMs'] = Date.now() - t0;
  return out;
}

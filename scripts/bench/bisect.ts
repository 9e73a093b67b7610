import { simulate } from '../../src/bisect/simulate.ts';

/**
 * Simulated bisection, the whole default sweep (p x q x faces, 500 trials a
 * cell, as `krepro bisect --simulate --json`): how long it takes, and per
 * cell the accuracy, stated confidence and machine/wall hours of both
 * policies, with the machine-time ratio.
 */
export async function bench(): Promise<Record<string, number | string>> {
  const res = await simulate({ seed: 1 });
  const out: Record<string, number | string> = {};
  for (const r of res.rows) {
    const k = `p${r.rate}.q${r.unrelatedRate}.${r.faces.length === 1 ? 'single' : r.faces.join('-')}`;
    out[`bisect.${k}.krepro.accuracy`] = r.krepro.accuracy;
    out[`bisect.${k}.krepro.stated`] = +r.krepro.statedConfidence.toFixed(4);
    out[`bisect.${k}.krepro.machineHours`] = +(r.krepro.meanCost / 3600).toFixed(2);
    out[`bisect.${k}.syzkaller.accuracy`] = r.syzkaller.accuracy;
    out[`bisect.${k}.syzkaller.machineHours`] = +(r.syzkaller.meanCost / 3600).toFixed(2);
    out[`bisect.${k}.machineRatio`] = +(r.krepro.meanCost / r.syzkaller.meanCost).toFixed(3);
  }
  out['bisect.sweepCells'] = res.rows.length;
  out['bisect.sweepSeconds'] = +res.seconds.toFixed(1);
  return out;
}

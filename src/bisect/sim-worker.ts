import { parentPort, workerData } from 'node:worker_threads';
import { simulateCell, type SimCell, type SimOptions } from './simulate.ts';

/** One thread of `krepro bisect --simulate`: simulates the cells it is given, in order. */
const { o, cells } = workerData as { o: SimOptions; cells: { i: number; cell: SimCell }[] };
for (const { i, cell } of cells) parentPort!.postMessage({ i, row: await simulateCell(o, cell) });

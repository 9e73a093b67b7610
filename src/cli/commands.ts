import type { CommandModule } from 'yargs';
// Each command lives in its own file and exports a yargs CommandModule as
// default. Register it here with one line per command.
export const commands: (() => Promise<{ default: CommandModule<any, any> }>)[] = [
  () => import('./analyze.ts'),
  () => import('./build.ts'),
  () => import('./bisect.ts'),
  () => import('./doctor.ts'),
  () => import('./fetch.ts'),
  () => import('./loop.ts'),
  () => import('./merge.ts'),
  () => import('./history.ts'),
  () => import('./run.ts'),
  () => import('./bundle.ts'),
  () => import('./report.ts'),
  () => import('./classify.ts'),
  () => import('./lava-job.ts'),
  () => import('./import-lava.ts'),
];

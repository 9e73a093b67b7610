import type { PatchRecord } from '../source/patches.ts';

export type { PatchRecord };

/** What to build: the contract between the CLI, bisect, loop and the build stage. */
export interface BuildOptions {
  tree?: string | null;        // user's git tree; null/undefined = Debian linux-source-6.12
  commit?: string | null;      // revision in that tree (default HEAD of the tree)
  profile?: string;            // kconfigs/profiles/<name>, default "default"
  configs?: string[];          // extra fragment files or single CONFIG_X=y items
  patches?: string[];          // patch files (mbox or diff), applied in order
  reverts?: string[];          // patch files applied in reverse, or commits of the tree to `git revert`; applied first, in order
  jobs?: number;               // make -j, default: cores
  cacheDir?: string;           // default cacheRoot()
  progress?: (p: BuildProgress) => void;
  signal?: AbortSignal;
}

export interface BuildProgress {
  phase: 'source' | 'config' | 'patch' | 'make' | 'done';
  percent?: number;
  etaSec?: number;
  message?: string;
}

/** A finished (or cached) build. */
export interface BuildResult {
  key: string;
  cached: boolean;
  seconds: number;
  dir: string;                 // the O= build dir
  bzImage: string;
  modules: string;             // dir with the built .ko files (modules_install into it)
  config: string;              // path of the final .config
  systemMap: string;
  vmlinux: string;
  tree: string;                // the git repo that was built
  commit: string;
  patches: PatchRecord[];      // reverts first, then profile and user patches, in the order applied
  kernelRelease: string;       // e.g. 6.12.117
  log: string;                 // full build log path
}


// What `spo train` and `spo train-evaluator` share for data-parallel runs: the
// command-line options, starting the rank processes (the launcher), and in a
// rank process the process group to join, whether it stays quiet (ranks > 0)
// and a stop when its launcher disappears.
import type { DistributedOptions } from '../training/trainer';
import { runTrainLaunch } from './launch';
import type { Device } from '../runtime/device';

export interface RankCliOptions {
  /** Data-parallel rank processes on this host (default 1: no process group). */
  nproc?: number;
  /** Hosts of a multi-host run, this host's index, and rank 0's address and port (the same on every host). */
  nnodes?: number;
  nodeRank?: number;
  masterAddr?: string;
  masterPort?: number;
  /** Seconds a stalled rank may hold up the others before they stop with an error (default 120). */
  distTimeout?: number;
  device: Device;
}

/** True in the command the user ran with --nproc / --nnodes > 1: it launches the ranks instead of training. */
export function launchesRanks(opts: RankCliOptions): boolean {
  return process.env.SPO_WORKER !== '1' && ((opts.nproc ?? 1) > 1 || (opts.nnodes ?? 1) > 1);
}

/** Starts this host's rank processes, each running the same command, and waits for them. */
export function launchRanks(opts: RankCliOptions, signal?: AbortSignal): Promise<number> {
  return runTrainLaunch({ nproc: opts.nproc ?? 1, nnodes: opts.nnodes, nodeRank: opts.nodeRank,
    masterAddr: opts.masterAddr, masterPort: opts.masterPort, device: opts.device }, signal);
}

/** The process group a rank process joins: from RANK / WORLD_SIZE / MASTER_* when WORLD_SIZE > 1. */
export function rankProcessGroup(env: NodeJS.ProcessEnv, timeoutSeconds?: number): DistributedOptions | undefined {
  const world = Number(env.WORLD_SIZE ?? '1');
  if (!(world > 1)) return undefined;
  return timeoutSeconds === undefined ? {} : { timeoutSeconds };
}

// A rank process whose launcher died (killed outright, so it could not stop us) stops too.
export function abortWhenOrphaned(controller: AbortController): () => void {
  const parent = process.ppid;
  const timer = setInterval(() => {
    if (process.ppid !== parent) {
      process.stderr.write(`spo: rank ${process.env.RANK}: the launcher is gone; stopping\n`);
      controller.abort();
      setTimeout(() => process.exit(1), 5000).unref();
    }
  }, 1000);
  timer.unref();
  return () => clearInterval(timer);
}

export interface RankProcess {
  /** The group to join (undefined outside a multi-rank run). */
  distributed: DistributedOptions | undefined;
  /** Ranks > 0: no progress, logs or saved files. */
  quiet: boolean;
  /** The caller's signal, also aborted when this process's launcher is gone. */
  signal: AbortSignal;
  stopOrphanCheck: () => void;
}

export function joinRanks(opts: RankCliOptions, signal?: AbortSignal): RankProcess {
  const distributed = rankProcessGroup(process.env, opts.distTimeout);
  const quiet = distributed !== undefined && Number(process.env.RANK ?? '0') !== 0;
  const orphan = new AbortController();
  const stopOrphanCheck = process.env.SPO_WORKER === '1' ? abortWhenOrphaned(orphan) : () => {};
  return { distributed, quiet, signal: signal ? AbortSignal.any([signal, orphan.signal]) : orphan.signal, stopOrphanCheck };
}

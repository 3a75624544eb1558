// `spo train --nproc N`: starts N local rank processes of the same command
// (RANK, WORLD_SIZE, LOCAL_RANK, MASTER_ADDR, MASTER_PORT in their environment,
// as torchrun sets them) and supervises them: the first rank that fails, or an
// abort of the launcher, stops every other rank (SIGTERM, then SIGKILL after a
// grace period), so no rank is left waiting on a dead peer. Rank 0's output
// goes straight through; the others' lines are prefixed with their rank.
// Multi-host: every host runs the launcher with --nnodes, --node-rank and the
// same --master-addr/--master-port (or sets the variables itself and runs one
// `spo train` per rank).
import { spawn, type ChildProcess } from 'node:child_process';
import { createServer } from 'node:net';
import { constants } from 'node:os';
import { createInterface } from 'node:readline';

export interface LaunchOptions {
  /** Rank processes on this host. */
  nproc: number;
  /** Hosts in the run (default 1) and this host's index (default 0). */
  nnodes?: number;
  nodeRank?: number;
  /** Rank 0's host (default 127.0.0.1; required with nnodes > 1). */
  masterAddr?: string;
  /** The rendezvous port (default: a free local port; required with nnodes > 1). */
  masterPort?: number;
  command: string;
  args: string[];
  env?: NodeJS.ProcessEnv;
  /** Give each local rank its own GPU through CUDA_VISIBLE_DEVICES = local rank. */
  oneGpuPerRank?: boolean;
  /** SIGTERM to SIGKILL, when stopping the ranks (default 10 s). */
  graceMs?: number;
  signal?: AbortSignal;
  /** Output lines of ranks other than global rank 0 (default: stderr, prefixed "[rank r] "). */
  onLine?: (rank: number, line: string) => void;
  /** Called once every rank has started, with their process ids in local-rank order. */
  onStart?: (pids: number[]) => void;
}

export interface LaunchResult {
  /** 0 when every rank exited 0; else the first failure's code (128 + signal number when killed); 130 when aborted. */
  exitCode: number;
  /** The global rank that failed first, if one did. */
  failedRank?: number;
  /** What stopped the run, in words (absent when all ranks succeeded). */
  reason?: string;
  /** Milliseconds from the first failure (or the abort) until the last rank had exited. */
  stopMs?: number;
}

/** A TCP port that was free a moment ago on this host. */
export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.unref();
    server.on('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      const port = typeof address === 'object' && address ? address.port : 0;
      server.close(() => resolve(port));
    });
  });
}

function exitCodeOf(code: number | null, signal: NodeJS.Signals | null): number {
  if (code !== null) return code;
  return 128 + (signal ? constants.signals[signal] ?? 0 : 0);
}

export async function launchRanks(o: LaunchOptions): Promise<LaunchResult> {
  const nnodes = o.nnodes ?? 1, nodeRank = o.nodeRank ?? 0;
  if (!Number.isInteger(o.nproc) || o.nproc < 1) throw new Error('--nproc must be an integer >= 1');
  if (!Number.isInteger(nnodes) || nnodes < 1 || !Number.isInteger(nodeRank) || nodeRank < 0 || nodeRank >= nnodes) {
    throw new Error('--node-rank must be in [0, --nnodes)');
  }
  if (nnodes > 1 && (!o.masterAddr || !o.masterPort)) {
    throw new Error('a multi-host run needs --master-addr and --master-port (the same on every host)');
  }
  const worldSize = o.nproc * nnodes;
  const masterAddr = o.masterAddr ?? '127.0.0.1';
  const masterPort = o.masterPort ?? (await freePort());
  const graceMs = o.graceMs ?? 10_000;
  const onLine = o.onLine ?? ((rank, line) => process.stderr.write(`[rank ${rank}] ${line}\n`));

  return new Promise<LaunchResult>((resolve) => {
    const children: ChildProcess[] = [];
    let alive = 0;
    let result: LaunchResult | undefined;
    let stoppedAt = 0;
    let killTimer: NodeJS.Timeout | undefined;

    // Stops every rank still running: SIGTERM now, SIGKILL after the grace period.
    const stopAll = () => {
      if (stoppedAt) return;
      stoppedAt = Date.now();
      for (const c of children) if (c.exitCode === null && c.signalCode === null) c.kill('SIGTERM');
      killTimer = setTimeout(() => {
        for (const c of children) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
      }, graceMs);
    };
    // The launcher itself going away (an uncaught error, process.exit) takes the ranks with it.
    const killOnExit = () => { for (const c of children) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL'); };
    process.once('exit', killOnExit);
    const onAbort = () => {
      result ??= { exitCode: 130, reason: 'aborted: stopped every rank' };
      stopAll();
    };

    const finish = () => {
      clearTimeout(killTimer);
      process.removeListener('exit', killOnExit);
      o.signal?.removeEventListener('abort', onAbort);
      const r = result ?? { exitCode: 0 };
      if (stoppedAt) r.stopMs = Date.now() - stoppedAt;
      resolve(r);
    };

    for (let local = 0; local < o.nproc; ++local) {
      const rank = nodeRank * o.nproc + local;
      const env: NodeJS.ProcessEnv = {
        ...(o.env ?? process.env),
        RANK: String(rank), WORLD_SIZE: String(worldSize), LOCAL_RANK: String(local), LOCAL_WORLD_SIZE: String(o.nproc),
        GROUP_RANK: String(nodeRank), MASTER_ADDR: masterAddr, MASTER_PORT: String(masterPort),
      };
      if (o.oneGpuPerRank) env.CUDA_VISIBLE_DEVICES = String(local);
      const child = spawn(o.command, o.args, { env, stdio: rank === 0 ? 'inherit' : ['ignore', 'pipe', 'pipe'] });
      children.push(child);
      ++alive;
      let ended = false;
      const end = () => {
        if (ended) return;
        ended = true;
        if (--alive === 0) finish();
      };
      for (const stream of [child.stdout, child.stderr]) {
        if (stream) createInterface({ input: stream }).on('line', (line) => onLine(rank, line));
      }
      child.on('error', (e) => {
        result ??= { exitCode: 127, failedRank: rank, reason: `rank ${rank} could not start: ${e.message}` };
        stopAll();
        if (child.pid === undefined) end();  // never started: no 'close' to wait for
      });
      child.on('close', (code, signal) => {
        const status = exitCodeOf(code, signal);
        if (status !== 0 && result === undefined) {
          const how = code !== null ? `exited with code ${code}` : `was killed by ${signal}`;
          result = { exitCode: status, failedRank: rank, reason: `rank ${rank} ${how}; stopped the other ranks` };
        }
        if (status !== 0 || result !== undefined) stopAll();
        end();
      });
    }
    o.onStart?.(children.map((c) => c.pid ?? -1));
    if (o.signal?.aborted) onAbort();
    else o.signal?.addEventListener('abort', onAbort, { once: true });
  });
}

export interface TrainLaunchOptions {
  nproc: number;
  nnodes?: number;
  nodeRank?: number;
  masterAddr?: string;
  masterPort?: number;
  device: string;
}

/** `spo train --nproc N ...`: the same command line once per rank, as a worker (SPO_WORKER=1). */
export async function runTrainLaunch(opts: TrainLaunchOptions, signal?: AbortSignal): Promise<number> {
  const result = await launchRanks({
    nproc: opts.nproc, nnodes: opts.nnodes, nodeRank: opts.nodeRank, masterAddr: opts.masterAddr,
    masterPort: opts.masterPort, command: process.execPath,
    args: [...process.execArgv, process.argv[1]!, ...process.argv.slice(2)],
    env: { ...process.env, SPO_WORKER: '1' }, oneGpuPerRank: opts.device === 'cuda', signal,
  });
  if (result.reason) process.stderr.write(`spo: ${result.reason} (all ranks stopped ${result.stopMs ?? 0} ms later)\n`);
  return result.exitCode;
}

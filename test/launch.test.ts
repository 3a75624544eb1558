// The rank launcher of `spo train --nproc` (lib/cli/launch.ts), on stand-in
// rank processes (plain node scripts, no addon): the torchrun environment each
// rank gets, and clean shutdown — a failing rank or an abort stops every other
// rank within a stated time, a rank that ignores SIGTERM is killed after the
// grace period, and no process is left behind.
import { describe, expect, it } from 'vitest';
import { mkdtempSync, readFileSync, readdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { launchRanks } from '../lib/cli/launch';

const node = process.execPath;

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

// A rank that records its environment, then runs `behaviour` (JavaScript, sees `rank`).
function rankScript(dir: string, behaviour: string): string[] {
  return ['-e', `
    const fs = require('node:fs');
    const rank = Number(process.env.RANK);
    fs.writeFileSync(${JSON.stringify(dir)} + '/rank' + rank + '.json', JSON.stringify({
      rank, world: process.env.WORLD_SIZE, local: process.env.LOCAL_RANK, addr: process.env.MASTER_ADDR,
      port: process.env.MASTER_PORT, pid: process.pid }));
    ${behaviour}
  `];
}

describe('launchRanks', () => {
  it('gives every rank the torchrun environment and succeeds when all ranks do', async () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'spo-launch-'));
    const lines: string[] = [];
    const r = await launchRanks({ nproc: 3, command: node, args: rankScript(dir, "console.log('hello from', rank);"),
      onLine: (rank, line) => lines.push(`${rank}:${line}`) });
    expect(r).toEqual({ exitCode: 0 });
    const seen = readdirSync(dir).map((f) => JSON.parse(readFileSync(path.join(dir, f), 'utf8')));
    expect(seen.map((s) => s.rank).sort()).toEqual([0, 1, 2]);
    for (const s of seen) {
      expect(s.world).toBe('3');
      expect(s.local).toBe(String(s.rank));
      expect(s.addr).toBe('127.0.0.1');
      expect(Number(s.port)).toBeGreaterThan(0);
      expect(s.port).toBe(seen[0].port);
    }
    expect(lines.sort()).toEqual(['1:hello from 1', '2:hello from 2']);  // rank 0's output is not captured
  });

  it('numbers ranks across hosts and refuses a multi-host run without a rendezvous address', async () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'spo-launch-'));
    const r = await launchRanks({ nproc: 2, nnodes: 3, nodeRank: 2, masterAddr: '127.0.0.1', masterPort: 29999,
      command: node, args: rankScript(dir, ''), onLine: () => {} });
    expect(r.exitCode).toBe(0);
    expect(readdirSync(dir).sort()).toEqual(['rank4.json', 'rank5.json']);
    expect(JSON.parse(readFileSync(path.join(dir, 'rank5.json'), 'utf8'))).toMatchObject({ world: '6', local: '1' });
    await expect(launchRanks({ nproc: 2, nnodes: 2, command: node, args: [] })).rejects.toThrow(/master-addr/);
  });

  it('stops every other rank when one fails, within a second, leaving no process', async () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'spo-launch-'));
    let pids: number[] = [];
    const t0 = Date.now();
    const r = await launchRanks({
      nproc: 3, command: node, onLine: () => {}, onStart: (p) => { pids = p; },
      // Rank 1 fails after 500 ms; the others would run forever.
      args: rankScript(dir, 'if (rank === 1) setTimeout(() => process.exit(7), 500); else setInterval(() => {}, 1000);'),
    });
    expect(r.exitCode).toBe(7);
    expect(r.failedRank).toBe(1);
    expect(r.reason).toMatch(/rank 1 exited with code 7; stopped the other ranks/);
    expect(r.stopMs!).toBeLessThan(1000);
    expect(Date.now() - t0).toBeLessThan(10_000);
    expect(pids).toHaveLength(3);
    for (const pid of pids) expect(alive(pid)).toBe(false);
  });

  it('reports a rank killed by a signal', async () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'spo-launch-'));
    const r = await launchRanks({ nproc: 2, command: node, onLine: () => {},
      args: rankScript(dir, "if (rank === 1) process.kill(process.pid, 'SIGKILL'); else setInterval(() => {}, 1000);") });
    expect(r.exitCode).toBe(128 + 9);
    expect(r.failedRank).toBe(1);
    expect(r.reason).toMatch(/rank 1 was killed by SIGKILL/);
  });

  it('an abort stops all ranks; one that ignores SIGTERM is killed after the grace period', async () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'spo-launch-'));
    const controller = new AbortController();
    let pids: number[] = [];
    const t0 = Date.now();
    const run = launchRanks({
      nproc: 2, command: node, graceMs: 1500, signal: controller.signal, onLine: () => {},
      onStart: (p) => { pids = p; },
      // Rank 1 ignores SIGTERM (a rank stuck where it cannot stop).
      args: rankScript(dir, "if (rank === 1) process.on('SIGTERM', () => {}); setInterval(() => {}, 1000);"),
    });
    // Abort once both ranks are up (they have written their files).
    while (readdirSync(dir).length < 2) await new Promise((r) => setTimeout(r, 50));
    controller.abort();
    const r = await run;
    expect(r.exitCode).toBe(130);
    expect(r.reason).toMatch(/aborted/);
    expect(r.stopMs!).toBeGreaterThanOrEqual(1400);  // waited the grace period for rank 1 ...
    expect(r.stopMs!).toBeLessThan(5000);            // ... then killed it
    expect(Date.now() - t0).toBeLessThan(15_000);
    for (const pid of pids) expect(alive(pid)).toBe(false);
  });

  it('a command that cannot start fails the launch', async () => {
    const r = await launchRanks({ nproc: 2, command: '/nonexistent/spo-worker', args: [], onLine: () => {} });
    expect(r.exitCode).toBe(127);
    expect(r.reason).toMatch(/could not start/);
  });
});

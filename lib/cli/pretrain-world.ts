// `spo pretrain-world`: trains the shapes world's tiny models from scratch
// (the command that made assets/shapes-world). One line per stage change and
// a throttled progress line; the report is printed at the end.
import { pretrainWorld, type WorldPretrainingOptions } from '../world';

export async function runPretrainWorld(opts: WorldPretrainingOptions & { json?: boolean }, signal?: AbortSignal): Promise<number> {
  const { json, ...options } = opts;
  let stage = '';
  let last = 0;
  const started = performance.now();
  const report = await pretrainWorld(options, {
    signal,
    onProgress: (p) => {
      const now = performance.now();
      if (p.stage !== stage || now - last > 5000 || p.step === p.total) {
        const secs = ((now - started) / 1000).toFixed(0).padStart(5);
        const loss = p.metrics?.loss !== undefined ? ` loss ${p.metrics.loss.toFixed(4)}` : '';
        process.stderr.write(`[${secs} s] ${p.stage} ${p.step}/${p.total}${loss}\n`);
        stage = p.stage;
        last = now;
      }
    },
  });
  process.stdout.write(`${JSON.stringify(report, null, 2)}\n`);
  if (!json) process.stderr.write(`models in ${options.outDir} (${((performance.now() - started) / 60000).toFixed(1)} min)\n`);
  return 0;
}

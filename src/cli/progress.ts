import type { ProgressReporter } from '../prd/config';

/**
 * A progress line on stderr while a slow (LLM) call runs: a spinner with elapsed seconds on a
 * terminal, one plain line otherwise (so logs and pipes stay readable).
 */
export function stderrProgress(stream: NodeJS.WriteStream = process.stderr): ProgressReporter {
  return (what) => {
    const started = Date.now();
    if (!stream.isTTY) {
      stream.write(`rig: ${what} ...\n`);
      return () => {};
    }
    const frames = ['|', '/', '-', '\\'];
    let frame = 0;
    const draw = () => stream.write(`\r${frames[frame++ % frames.length]} ${what} (${Math.floor((Date.now() - started) / 1000)} s)`);
    draw();
    const timer = setInterval(draw, 250);
    return () => {
      clearInterval(timer);
      stream.write('\r\x1b[2K');
    };
  };
}

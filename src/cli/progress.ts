// A progress line on a terminal for long dumps and restores: bytes, rate, time left. Shown only
// when stderr is a terminal and the transfer has run for half a second; nothing otherwise.

import { setProgressListener } from '../progress.js';

const MiB = 1024 * 1024;
const fmtBytes = (b: number) => (b >= 1024 * MiB ? `${(b / 1024 / MiB).toFixed(2)} GiB` : `${(b / MiB).toFixed(1)} MiB`);
const fmtTime = (s: number) => (s >= 60 ? `${Math.floor(s / 60)}m${String(Math.round(s % 60)).padStart(2, '0')}s` : `${Math.ceil(s)}s`);

/** Installs the terminal progress line; returns a function that clears it and removes the listener. */
export function showProgress(stream: NodeJS.WriteStream = process.stderr): () => void {
  if (!stream.isTTY) return () => {};
  let t0 = 0;
  let last = 0;
  let shown = false;
  setProgressListener((what, done, total) => {
    const now = performance.now();
    if (done === 0 || t0 === 0) { t0 = now; return; }
    if (now - t0 < 500 || (now - last < 100 && done < total)) return;
    last = now;
    const rate = done / ((now - t0) / 1000);
    const left = rate > 0 ? (total - done) / rate : 0;
    const pct = total > 0 ? Math.floor((done / total) * 100) : 100;
    stream.write(`\rcryo: ${what} ${fmtBytes(done)} of ${fmtBytes(total)} (${pct}%), ${fmtBytes(rate)}/s, ${fmtTime(left)} left\x1b[K`);
    shown = true;
  });
  return () => {
    setProgressListener(undefined);
    if (shown) stream.write('\r\x1b[K');
  };
}

// A node program whose file I/O goes through libuv's io_uring rings (run with UV_USE_IO_URING=1):
// it writes a file and reads it back, round after round, and checks every byte. usage: OUTFILE.
// READY once 200 rounds are done; rounds.txt every 100 rounds; on SIGTERM "PASS rounds=N".
import { appendFileSync, writeFileSync } from 'node:fs';
import { readFile, writeFile } from 'node:fs/promises';
import { setTimeout as sleep } from 'node:timers/promises';

const out = process.argv[2];
let stop = false;
process.on('SIGTERM', () => { stop = true; });
const content = (i) => `round ${i}\n`.repeat(200 + (i % 50));
for (let n = 0; ; n++) {
  if (stop) {
    appendFileSync(out, `PASS rounds=${n}\n`);
    process.exit(0);
  }
  await writeFile('data.txt', content(n));
  const back = await readFile('data.txt', 'utf8');
  if (back !== content(n)) {
    appendFileSync(out, `FAIL: round ${n} read ${back.length} bytes, other than written\n`);
    process.exit(1);
  }
  if (n === 200) writeFileSync(out, `READY pid=${process.pid}\n`);
  if (n % 100 === 0) writeFileSync('rounds.txt', String(n));
  await sleep(2);
}

// A Node.js HTTP server with a timer and a worker thread, for the real-program round trip
// (test/e2e/real-node.test.ts). It is ordinary Node: nothing here knows about cryo.
// argv: OUTFILE. Listens on 127.0.0.1 (a free port), writes "READY port=P pid=N" to OUTFILE.
// GET / answers {"pid","ticks","workerTicks","workerSeen","uptimeMs"} and closes the connection:
// ticks counts the main thread's setInterval, workerTicks the worker's own counter as it
// last reported it by postMessage, workerSeen how many reports the main thread received.
import http from 'node:http';
import { writeFileSync } from 'node:fs';
import { Worker } from 'node:worker_threads';

const outFile = process.argv[2];
const started = Date.now();
let ticks = 0;
let workerTicks = 0;
let workerSeen = 0;

setInterval(() => { ticks++; }, 20);

const worker = new Worker(
  `const { parentPort } = require('node:worker_threads');
   let n = 0;
   setInterval(() => { n++; parentPort.postMessage(n); }, 20);`,
  { eval: true },
);
worker.on('message', (n) => { workerTicks = n; workerSeen++; });
worker.on('error', (e) => { process.stderr.write(`worker failed: ${e}\n`); process.exit(2); });

const server = http.createServer((req, res) => {
  const body = JSON.stringify({ pid: process.pid, ticks, workerTicks, workerSeen, uptimeMs: Date.now() - started });
  res.writeHead(200, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body), connection: 'close' });
  res.end(body);
});
server.keepAliveTimeout = 0;
server.listen(0, '127.0.0.1', () => {
  const { port } = server.address();
  // Ready once the worker has reported too, so the first answer already shows both counters.
  const wait = setInterval(() => {
    if (workerSeen === 0) return;
    clearInterval(wait);
    writeFileSync(outFile, `READY port=${port} pid=${process.pid}\n`);
  }, 5);
});

process.on('SIGTERM', () => {
  server.close();
  worker.terminate().then(() => process.exit(0));
});

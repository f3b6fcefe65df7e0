/** Exact reads and writes on a TCP socket: the page-server protocol is a strict exchange. */
import net from 'node:net';
import { closeSync, readSync } from 'node:fs';
import { rawSyscall, spliceAll } from '../sys/index.js';
import { F_DUPFD_CLOEXEC, F_GETFL, F_SETFL, F_SETPIPE_SZ, O_CLOEXEC, O_NONBLOCK } from '../shared/constants.js';

export class SocketIo {
  private chunks: Buffer[] = [];
  private have = 0;
  private ended = false;
  private error: Error | undefined;
  private wake: (() => void) | undefined;

  constructor(readonly sock: net.Socket) {
    sock.on('data', (d: Buffer) => {
      this.chunks.push(d);
      this.have += d.length;
      // Backpressure: stop reading while a large run waits to be written out.
      if (this.have > 8 << 20) sock.pause();
      this.poke();
    });
    sock.on('end', () => { this.ended = true; this.poke(); });
    sock.on('error', (e) => { this.error = e; this.poke(); });
    sock.on('close', () => { this.ended = true; this.poke(); });
  }

  private poke(): void {
    const w = this.wake;
    this.wake = undefined;
    w?.();
  }

  private async waitFor(n: number): Promise<boolean> {
    while (this.have < n) {
      if (this.error) throw this.error;
      if (this.ended) return false;
      this.sock.resume();
      await new Promise<void>((r) => { this.wake = r; });
    }
    return true;
  }

  /** Up to `max` bytes (at least one), or undefined at the end of the stream. */
  async readSome(max: number): Promise<Buffer | undefined> {
    if (!(await this.waitFor(1))) return undefined;
    return this.take(Math.min(max, this.have));
  }

  /** Exactly n bytes; undefined when the peer closed before the first, an error when in the middle. */
  async readExact(n: number, what: string): Promise<Buffer | undefined> {
    if (!(await this.waitFor(n))) {
      if (this.have === 0) return undefined;
      throw new Error(`the peer closed the connection in the middle of ${what} (${this.have} of ${n} bytes)`);
    }
    return this.take(n);
  }

  private take(n: number): Buffer {
    const out = Buffer.allocUnsafe(n);
    let at = 0;
    while (at < n) {
      const c = this.chunks[0]!;
      const k = Math.min(c.length, n - at);
      c.copy(out, at, 0, k);
      at += k;
      if (k === c.length) this.chunks.shift(); else this.chunks[0] = c.subarray(k);
    }
    this.have -= n;
    if (this.have < 4 << 20) this.sock.resume();
    return out;
  }

  /** Writes b, resolving once the socket took it (or the kernel buffer has room again). */
  write(b: Buffer): Promise<void> {
    if (this.error) return Promise.reject(this.error);
    return new Promise((resolve, reject) => {
      const ok = this.sock.write(b, (e) => { if (e) reject(e); });
      if (ok) resolve(); else this.sock.once('drain', resolve);
    });
  }

  /** Whether the peer has closed its side (nothing more will come). */
  async atEnd(): Promise<boolean> {
    return !(await this.waitFor(1));
  }
}

/** Connects to address:port; a one-line error when nothing listens there. */
export function connectTo(address: string, port: number): Promise<net.Socket> {
  return new Promise((resolve, reject) => {
    const s = net.connect({ host: address, port, noDelay: true });
    s.once('connect', () => { s.removeAllListeners('error'); resolve(s); });
    s.once('error', (e) => reject(new Error(`cannot connect to the page server at ${address}:${port}: ${(e as NodeJS.ErrnoException).code ?? e.message} (start \`cryo page-server\` there first)`)));
  });
}

/**
 * A connected TCP socket cryo drives with blocking system calls, taken over from Node once
 * connected: pages move by splice(2) without passing through JavaScript, and the dump can stream
 * them while the task is frozen, with no event loop turn in between.
 */
export class BlockingSocket {
  private pipe: [number, number] | undefined;

  private constructor(private fd: number) {}

  /** Takes `sock`'s connection: a blocking duplicate of its descriptor; Node's handle is closed before it reads anything. */
  static from(sock: net.Socket): BlockingSocket {
    // Node keeps the descriptor in its handle; there is no public way to take it over.
    const nodeFd = (sock as unknown as { _handle?: { fd?: number } })._handle?.fd;
    if (typeof nodeFd !== 'number' || nodeFd < 0) {
      sock.destroy();
      throw new Error('the page-server connection has no descriptor');
    }
    const fd = Number(rawSyscall('fcntl', nodeFd, F_DUPFD_CLOEXEC, 3));
    sock.destroy();
    rawSyscall('fcntl', fd, F_SETFL, Number(rawSyscall('fcntl', fd, F_GETFL, 0)) & ~O_NONBLOCK);
    return new BlockingSocket(fd);
  }

  write(b: Buffer): void {
    for (let off = 0; off < b.length;) off += Number(rawSyscall('write', this.fd, b.subarray(off), b.length - off));
  }

  /** Exactly n bytes; undefined when the peer closed before the first, an error when in the middle. */
  readExact(n: number, what: string): Buffer | undefined {
    const b = Buffer.alloc(n);
    for (let at = 0; at < n;) {
      const got = readSync(this.fd, b, at, n - at, null);
      if (got === 0) {
        if (at === 0) return undefined;
        throw new Error(`the peer closed the connection in the middle of ${what} (${at} of ${n} bytes)`);
      }
      at += got;
    }
    return b;
  }

  /** Whether the peer has closed its side (nothing more will come). */
  atEnd(): boolean {
    return readSync(this.fd, Buffer.alloc(1), 0, 1, null) === 0;
  }

  /** `bytes` from the pipe read end `rfd` into the socket. */
  spliceIn(rfd: number, bytes: number): void {
    spliceAll(rfd, this.fd, bytes, 'into the page-server connection');
  }

  /** `bytes` from the socket into the file `fd`, through a pipe of cryo's (no copy through JavaScript); returns false when the peer closed first. */
  spliceOut(fd: number, bytes: number): boolean {
    if (!this.pipe) {
      const fds = new Int32Array(2);
      rawSyscall('pipe2', fds, O_CLOEXEC);
      this.pipe = [fds[0]!, fds[1]!];
      try { rawSyscall('fcntl', fds[1]!, F_SETPIPE_SZ, 1 << 20); } catch { /* the default size does */ }
    }
    const [r, w] = this.pipe;
    for (let left = bytes; left > 0;) {
      const n = Number(rawSyscall('splice', this.fd, null, w, null, left, 0));
      if (n === 0) return false;
      spliceAll(r, fd, n, 'into the pages image');
      left -= n;
    }
    return true;
  }

  close(): void {
    for (const fd of [this.fd, ...(this.pipe ?? [])]) if (fd >= 0) closeSync(fd);
    this.fd = -1;
    this.pipe = undefined;
  }
}

/** Exact reads and awaited writes on a TCP socket: the page-server protocol is a strict exchange. */
import net from 'node:net';

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

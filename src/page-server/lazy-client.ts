/**
 * `cryo lazy-pages --page-server`'s side of a session with a page server serving lazy pages (cryo's
 * `page-server --lazy-pages`, or CRIU's): PS_IOV_GET for a task's pages at an address, one request
 * at a time; the server answers with how many it holds from there on (at most those asked) and their bytes.
 */
import { PE_PRESENT } from '../images/flags.js';
import { readI32 } from '../sys/native-endian.js';
import { PSI_SIZE, PS_IOV_ADD_F, PS_IOV_CLOSE, PS_IOV_GET, decodePsi, encodePsi, psCmd, psFlags } from './protocol.js';
import { SocketIo, connectTo } from './socket-io.js';

export class RemotePages {
  private constructor(private readonly io: SocketIo, private readonly where: string, private readonly pageSize: number) {}

  static async connect(address: string, port: number, pageSize: number): Promise<RemotePages> {
    return new RemotePages(new SocketIo(await connectTo(address, port)), `${address}:${port}`, pageSize);
  }

  /** Up to `nr` pages of task `pid` at vaddr (the server may send fewer, never none). */
  async get(pid: number, vaddr: bigint, nr: number): Promise<Buffer> {
    // dst_id is CRIU's page-read image id: the task's PID, not shifted.
    await this.io.write(encodePsi({ cmd: PS_IOV_GET, nrPages: BigInt(nr), vaddr, dstId: BigInt(pid) }));
    const h = await this.io.readExact(PSI_SIZE, 'the answer to PS_IOV_GET');
    if (h === undefined) throw new Error(`the page server at ${this.where} closed the connection when asked for page 0x${vaddr.toString(16)} of task ${pid} (it does not hold it, or is not a lazy page server: start it with --lazy-pages)`);
    const pi = decodePsi(h);
    const n = Number(pi.nrPages);
    if (psCmd(pi.cmd) !== PS_IOV_ADD_F || (psFlags(pi.cmd) & PE_PRESENT) === 0 || pi.vaddr !== vaddr || pi.dstId !== BigInt(pid) || n < 1 || n > nr) {
      throw new Error(`the page server at ${this.where} answered page 0x${vaddr.toString(16)} of task ${pid} with command ${pi.cmd}, ${n} pages at 0x${pi.vaddr.toString(16)} of ${pi.dstId}: not a lazy page server's answer`);
    }
    const data = await this.io.readExact(n * this.pageSize, 'pages');
    if (data === undefined) throw new Error(`the page server at ${this.where} closed the connection in the middle of the pages at 0x${vaddr.toString(16)}`);
    return data;
  }

  /** PS_IOV_CLOSE, the server's status, then the connection closed (the server ends its session). */
  async close(): Promise<void> {
    await this.io.write(encodePsi({ cmd: PS_IOV_CLOSE, nrPages: 0n, vaddr: 0n, dstId: 0n }));
    const r = await this.io.readExact(4, 'the answer to PS_IOV_CLOSE');
    this.io.sock.end();
    if (r !== undefined && readI32(r, 0) !== 0) throw new Error(`the page server at ${this.where} answered status ${readI32(r, 0)} to PS_IOV_CLOSE`);
  }

  abort(): void {
    this.io.sock.destroy();
  }
}

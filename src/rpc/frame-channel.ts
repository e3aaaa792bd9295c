/**
 * Length-prefixed frames over a byte stream: the transport between the service and its local
 * runtime processes (a Unix socket pair, the child's fd 3). gRPC costs 5–6× more per call here;
 * this costs a JSON header and one write per turn of the event loop.
 *
 *   frame = u32 length of the rest | u32 header length | header (UTF-8 JSON object) | payload bytes
 *
 * Frames written in one turn of the event loop leave in one write: they are queued and written
 * together from setImmediate, after every request that arrived in this turn was read (the
 * service reads several HTTP requests per turn under load), so a burst of calls costs one system
 * call and one wake-up of the other side, not one per call.
 *
 * The other side may be hostile (a runtime process is one sandbox escape from sending anything): a
 * frame over `maxFrameBytes`, a header that is not a JSON object, or a length that does not add
 * up ends the channel through `onViolation`, before anything of it is believed.
 */
import type { Duplex } from 'node:stream';

export interface FrameChannelOptions {
  readonly maxFrameBytes: number;
  readonly onFrame: (header: Record<string, unknown>, payload: Buffer) => void;
  readonly onViolation: (what: string) => void;
  readonly onClose: () => void;
}

const PREFIX_BYTES = 8;
const EMPTY = Buffer.alloc(0);

export class FrameChannel {
  readonly #socket: Duplex;
  readonly #o: FrameChannelOptions;
  /** Bytes received that do not yet make a whole frame. */
  #chunks: Buffer[] = [];
  #buffered = 0;
  /** Frames waiting for this turn's write. */
  #outgoing: Buffer[] = [];
  #flushScheduled = false;
  #closed = false;

  constructor(socket: Duplex, options: FrameChannelOptions) {
    this.#socket = socket;
    this.#o = options;
    socket.on('data', (chunk: Buffer) => this.#onData(chunk));
    socket.on('error', () => this.#end());
    socket.on('close', () => this.#end());
    socket.on('end', () => this.#end());
  }

  get closed(): boolean {
    return this.#closed;
  }

  send(header: object, payload?: Uint8Array): void {
    if (this.#closed) return;
    const head = JSON.stringify(header);
    const body = payload ?? EMPTY;
    // One buffer per frame: the header is encoded straight into it (UTF-8 is at most 3 bytes per UTF-16 unit).
    const frame = Buffer.allocUnsafe(PREFIX_BYTES + head.length * 3 + body.byteLength);
    const headLength = frame.write(head, PREFIX_BYTES, 'utf8');
    frame.writeUInt32BE(4 + headLength + body.byteLength, 0);
    frame.writeUInt32BE(headLength, 4);
    if (body.byteLength > 0) frame.set(body, PREFIX_BYTES + headLength);
    this.#outgoing.push(frame.subarray(0, PREFIX_BYTES + headLength + body.byteLength));
    if (!this.#flushScheduled) {
      this.#flushScheduled = true;
      setImmediate(() => this.#flush());
    }
  }

  #flush(): void {
    this.#flushScheduled = false;
    if (this.#closed) return;
    const frames = this.#outgoing;
    this.#outgoing = [];
    if (frames.length === 1) this.#socket.write(frames[0]);
    else if (frames.length > 1) this.#socket.write(Buffer.concat(frames));
  }

  close(): void {
    if (this.#closed) return;
    this.#socket.end();
    this.#socket.destroy();
    this.#end();
  }

  #end(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#chunks = [];
    this.#buffered = 0;
    this.#outgoing = [];
    this.#o.onClose();
  }

  #violation(what: string): void {
    if (this.#closed) return;
    this.#o.onViolation(what);
    this.close();
  }

  #onData(chunk: Buffer): void {
    if (this.#closed) return;
    this.#chunks.push(chunk);
    this.#buffered += chunk.length;
    while (!this.#closed && this.#buffered >= PREFIX_BYTES) {
      const first = this.#chunks[0] as Buffer;
      const prefix = first.length >= PREFIX_BYTES ? first : Buffer.concat(this.#chunks, PREFIX_BYTES);
      const length = prefix.readUInt32BE(0);
      const headerLength = prefix.readUInt32BE(4);
      if (length > this.#o.maxFrameBytes) return this.#violation(`a frame of ${length} bytes (at most ${this.#o.maxFrameBytes})`);
      if (length < 4 || headerLength > length - 4) return this.#violation('a frame whose lengths do not add up');
      const total = 4 + length;
      if (this.#buffered < total) return;
      // Whole frames are joined once, when complete: a large frame arriving in many chunks is not copied per chunk.
      let data: Buffer;
      if (first.length >= total) {
        data = first;
        if (first.length > total) this.#chunks[0] = first.subarray(total);
        else this.#chunks.shift();
      } else {
        data = Buffer.concat(this.#chunks, this.#buffered);
        this.#chunks = data.length > total ? [data.subarray(total)] : [];
      }
      this.#buffered -= total;
      let header: unknown;
      try {
        header = JSON.parse(data.toString('utf8', PREFIX_BYTES, PREFIX_BYTES + headerLength));
      } catch {
        return this.#violation('a frame header that is not JSON');
      }
      if (typeof header !== 'object' || header === null || Array.isArray(header)) return this.#violation('a frame header that is not an object');
      this.#o.onFrame(header as Record<string, unknown>, data.subarray(PREFIX_BYTES + headerLength, total));
    }
  }
}

// A tiny RESP2 client over node:net for the bench's Redis peer: commands are pipelined (every command
// issued in one turn of the event loop goes out in one socket write) and replies are parsed in order.
import net from 'node:net';

export type Reply = string | number | Buffer | null | Reply[] | RedisError;

export class RedisError extends Error {}

type Waiter = { resolve(reply: Reply): void; reject(error: Error): void };

/** Parses one reply at `offset`; undefined when the buffer does not hold all of it yet. */
function parse(buffer: Buffer, offset: number): { reply: Reply; next: number } | undefined {
  if (offset >= buffer.length) return undefined;
  const lineEnd = buffer.indexOf('\r\n', offset);
  if (lineEnd < 0) return undefined;
  const type = buffer[offset];
  const line = buffer.toString('latin1', offset + 1, lineEnd);
  const after = lineEnd + 2;
  switch (type) {
    case 0x2b: // +
      return { reply: line, next: after };
    case 0x2d: // -
      return { reply: new RedisError(line), next: after };
    case 0x3a: // :
      return { reply: Number(line), next: after };
    case 0x24: {
      // $
      const length = Number(line);
      if (length < 0) return { reply: null, next: after };
      if (after + length + 2 > buffer.length) return undefined;
      return { reply: buffer.subarray(after, after + length), next: after + length + 2 };
    }
    case 0x2a: {
      // *
      const count = Number(line);
      if (count < 0) return { reply: null, next: after };
      const items: Reply[] = [];
      let next = after;
      for (let i = 0; i < count; i++) {
        const item = parse(buffer, next);
        if (!item) return undefined;
        items.push(item.reply);
        next = item.next;
      }
      return { reply: items, next };
    }
    default:
      throw new Error(`unexpected RESP type byte ${type} at ${offset}`);
  }
}

function encode(args: (string | Buffer)[]): Buffer {
  const parts: Buffer[] = [Buffer.from(`*${args.length}\r\n`)];
  for (const arg of args) {
    const bytes = typeof arg === 'string' ? Buffer.from(arg) : arg;
    parts.push(Buffer.from(`$${bytes.length}\r\n`), bytes, Buffer.from('\r\n'));
  }
  return Buffer.concat(parts);
}

export class RedisClient {
  private readonly waiting: Waiter[] = [];
  private pending: Buffer = Buffer.alloc(0);
  private outgoing: Buffer[] = [];
  private flushScheduled = false;
  private failure: Error | undefined;

  private constructor(private readonly socket: net.Socket) {
    socket.setNoDelay(true);
    socket.on('data', (data: Buffer) => this.onData(data));
    const fail = (error: Error) => {
      this.failure ??= error;
      for (const waiter of this.waiting.splice(0)) waiter.reject(error);
    };
    socket.on('error', fail);
    socket.on('close', () => fail(new Error('redis connection closed')));
  }

  /** Connects to `address` (host:port). */
  static connect(address: string): Promise<RedisClient> {
    const [host, port] = address.split(':');
    return new Promise((resolve, reject) => {
      const socket = net.connect({ host: host!, port: Number(port) }, () => {
        socket.off('error', reject);
        resolve(new RedisClient(socket));
      });
      socket.once('error', reject);
    });
  }

  /** Sends one command; resolves with its reply (rejects on a Redis error reply). */
  command(...args: (string | Buffer)[]): Promise<Reply> {
    if (this.failure) return Promise.reject(this.failure);
    this.outgoing.push(encode(args));
    if (!this.flushScheduled) {
      this.flushScheduled = true;
      setImmediate(() => this.flush());
    }
    return new Promise((resolve, reject) => this.waiting.push({ resolve, reject }));
  }

  private flush(): void {
    this.flushScheduled = false;
    if (this.outgoing.length === 0) return;
    this.socket.write(this.outgoing.length === 1 ? this.outgoing[0]! : Buffer.concat(this.outgoing));
    this.outgoing = [];
  }

  private onData(data: Buffer): void {
    this.pending = this.pending.length === 0 ? data : Buffer.concat([this.pending, data]);
    let offset = 0;
    for (;;) {
      const parsed = parse(this.pending, offset);
      if (!parsed) break;
      offset = parsed.next;
      const waiter = this.waiting.shift();
      if (!waiter) continue;
      if (parsed.reply instanceof RedisError) waiter.reject(parsed.reply);
      else waiter.resolve(parsed.reply);
    }
    this.pending = offset >= this.pending.length ? Buffer.alloc(0) : this.pending.subarray(offset);
  }

  close(): void {
    this.socket.destroy();
  }
}

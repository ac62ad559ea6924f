// A minimal etcd v3 client for the bench: etcdserverpb.KV/Put over grpc-js, with the two fields of
// PutRequest it needs (key = 1, value = 2, both bytes) encoded by hand; the response is not decoded.
import * as grpc from '@grpc/grpc-js';

const PUT_PATH = '/etcdserverpb.KV/Put';

function varint(n: number): Buffer {
  const bytes: number[] = [];
  while (n > 0x7f) {
    bytes.push((n & 0x7f) | 0x80);
    n >>>= 7;
  }
  bytes.push(n);
  return Buffer.from(bytes);
}

const lengthDelimited = (field: number, bytes: Buffer) => Buffer.concat([Buffer.from([(field << 3) | 2]), varint(bytes.length), bytes]);

export function encodePutRequest(key: Buffer, value: Buffer): Buffer {
  return Buffer.concat([lengthDelimited(1, key), lengthDelimited(2, value)]);
}

export class EtcdClient {
  private readonly client: grpc.Client;

  constructor(address: string) {
    this.client = new grpc.Client(address, grpc.credentials.createInsecure());
  }

  /** Put `key` = `value`; resolves once etcd has answered (its WAL synced). */
  put(key: Buffer, value: Buffer): Promise<void> {
    return new Promise((resolve, reject) =>
      this.client.makeUnaryRequest(
        PUT_PATH,
        (request: Buffer) => request,
        (response: Buffer) => response,
        encodePutRequest(key, value),
        (error) => (error ? reject(error) : resolve()),
      ),
    );
  }

  close(): void {
    this.client.close();
  }
}

// Bearer-token authentication as a grpc-js server interceptor. Each call must carry
// `authorization: Bearer <token>` naming one of the configured tokens; a read-only token may
// list, get and subscribe but never mutate. Health and reflection can stay open.
import { createHash, timingSafeEqual } from 'node:crypto';
import * as grpc from '@grpc/grpc-js';
import { AUTHORIZATION_HEADER } from '../protocol/metadata';
import { SERVICE_NAME } from '../protocol/proto';

export interface AccessToken {
  token: string;
  /** May list, get and subscribe; every mutation is refused with PERMISSION_DENIED. */
  readOnly: boolean;
}

/** Services that may be called without a token. */
export type PublicService = 'health' | 'reflection';
export const PUBLIC_SERVICES: readonly PublicService[] = ['health', 'reflection'];

export interface AuthOptions {
  tokens: readonly AccessToken[];
  publicServices: readonly PublicService[];
}

const PATH_PREFIXES: Record<PublicService, readonly string[]> = {
  health: ['/grpc.health.v1.Health/'],
  reflection: ['/grpc.reflection.v1alpha.ServerReflection/', '/grpc.reflection.v1.ServerReflection/'],
};

/** Unary RPCs that write (ParsePRD stores the parsed PRD). TaskEventStream is readable, but its `update` messages write. */
const MUTATING_METHODS: ReadonlySet<string> = new Set(
  [
    'AddTask',
    'UpdateTask',
    'DeleteTask',
    'WriteTasks',
    'ParsePRD',
    'GenerateTasksFromPRD',
    'OrchestrateTask',
    // Consumers' management; consuming (and the acks it writes) and listing are open to read-only tokens.
    'CreateConsumer',
    'DeleteConsumer',
    'ResetConsumer',
    'RedriveDeadLetters',
    'DropDeadLetters',
  ].map((m) => `/${SERVICE_NAME}/${m}`),
);

/**
 * Set by the interceptor on the metadata a handler sees when the call's token is read-only (any
 * value a client sent under this name is removed first), for handlers whose one call may or may not
 * write: ConsumeTaskEvents creates a consumer on first use only for a read-write token.
 */
const READ_ONLY_MARK = 'x-rigger-internal-read-only';

export function isReadOnlyCall(metadata: grpc.Metadata): boolean {
  return metadata.get(READ_ONLY_MARK).length > 0;
}
const DUPLEX_WITH_UPDATES = `/${SERVICE_NAME}/TaskEventStream`;

const HOW_TO_SEND = "send metadata `authorization: Bearer <token>` (rig: --token or RIGGER_TOKEN; grpcurl: -H 'authorization: Bearer <token>')";

/** Compares tokens in constant time: fixed-length SHA-256 digests, every configured token checked. */
class TokenTable {
  private readonly entries: { digest: Buffer; readOnly: boolean }[];

  constructor(tokens: readonly AccessToken[]) {
    this.entries = tokens.map((t) => ({ digest: digestOf(t.token), readOnly: t.readOnly }));
  }

  /** The access a presented token grants, or undefined when it matches none. */
  lookup(presented: string): { readOnly: boolean } | undefined {
    const digest = digestOf(presented);
    let match: { readOnly: boolean } | undefined;
    for (const entry of this.entries) {
      // No early exit: the time taken does not depend on which token (if any) matched.
      if (timingSafeEqual(digest, entry.digest) && match === undefined) match = { readOnly: entry.readOnly };
    }
    return match;
  }
}

function digestOf(token: string): Buffer {
  return createHash('sha256').update(token, 'utf8').digest();
}

/** The token in an `authorization: Bearer <token>` header, or undefined when absent or malformed. */
function bearerToken(metadata: grpc.Metadata): string | undefined {
  const value = metadata.get(AUTHORIZATION_HEADER)[0];
  if (typeof value !== 'string') return undefined;
  const match = /^\s*bearer\s+(\S+)\s*$/i.exec(value);
  return match?.[1];
}

/** The interceptor enforcing `options`; undefined when no token is configured (auth off). */
export function authInterceptor(options: AuthOptions): grpc.ServerInterceptor | undefined {
  if (options.tokens.length === 0) return undefined;
  const table = new TokenTable(options.tokens);
  const publicPrefixes = options.publicServices.flatMap((s) => PATH_PREFIXES[s]);

  return (method, call) => {
    if (publicPrefixes.some((prefix) => method.path.startsWith(prefix))) return new grpc.ServerInterceptingCall(call);
    let readOnly = false;
    let refused = false;
    const refuse = (code: grpc.status, details: string) => {
      refused = true;
      call.sendStatus({ code, details, metadata: new grpc.Metadata() });
    };
    return new grpc.ServerInterceptingCall(call, {
      start: (next) =>
        next({
          onReceiveMetadata: (metadata, pass) => {
            const presented = bearerToken(metadata);
            if (presented === undefined) {
              const sent = metadata.get(AUTHORIZATION_HEADER).length > 0;
              return refuse(
                grpc.status.UNAUTHENTICATED,
                sent ? `the authorization metadata is not of the form "Bearer <token>"; ${HOW_TO_SEND}` : `this server requires a token; ${HOW_TO_SEND}`,
              );
            }
            const access = table.lookup(presented);
            if (!access) return refuse(grpc.status.UNAUTHENTICATED, 'the bearer token is not valid for this server; check --token / RIGGER_TOKEN');
            if (access.readOnly && MUTATING_METHODS.has(method.path)) {
              return refuse(
                grpc.status.PERMISSION_DENIED,
                `${method.path.slice(method.path.lastIndexOf('/') + 1)} changes tasks and this token is read-only; use a read-write token`,
              );
            }
            readOnly = access.readOnly;
            metadata.remove(AUTHORIZATION_HEADER); // handlers never see the secret
            metadata.remove(READ_ONLY_MARK);
            if (readOnly) metadata.set(READ_ONLY_MARK, '1');
            pass(metadata);
          },
          onReceiveMessage: (message: { update?: unknown } | null, pass) => {
            if (refused) return;
            if (readOnly && method.path === DUPLEX_WITH_UPDATES && message?.update) {
              return refuse(
                grpc.status.PERMISSION_DENIED,
                'TaskEventStream `update` messages change tasks and this token is read-only; use a read-write token',
              );
            }
            pass(message);
          },
        }),
    });
  };
}

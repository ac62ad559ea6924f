// Why a client could not reach the server, in one line a person can act on. grpc-js reports every
// failure to connect as UNAVAILABLE with its own internals ("No connection established. Last error:
// ... Resolution note: ..."); what went wrong (nothing listening, a name that does not resolve, TLS on
// one side only, a certificate not trusted, a token missing) is read from that text, and the fix is
// named with the flags and environment variables of the rig CLI and the sidecars.
import net from 'node:net';
import tls from 'node:tls';
import * as grpc from '@grpc/grpc-js';
import type { ConnectOptions } from './connect';

export type ConnectionFailureKind =
  | 'refused' // nothing listens at the address
  | 'dns' // the host name does not resolve
  | 'unreachable' // no route, or the connection attempt timed out
  | 'tls-required' // a plaintext client reached a TLS server
  | 'tls-not-served' // a TLS client reached a plaintext server
  | 'closed' // the peer closed the connection before gRPC began: a TLS server, or not a gRPC server
  | 'not-grpc' // something that is not a gRPC server answered
  | 'untrusted-certificate' // the server's certificate is not trusted, or does not name the host
  | 'client-certificate' // the server wants a client certificate (mTLS) it was not given
  | 'unauthenticated' // the server wants a token, none or a wrong one was sent
  | 'other';

export interface ConnectionFailure {
  kind: ConnectionFailureKind;
  /** One line: what is wrong and what fixes it. */
  message: string;
}

/** What the client was configured with, as far as the failure's hint needs it. */
export interface ConnectionTarget {
  /** host:port as given. */
  address: string;
  tls: boolean;
  /** A CA (--server-ca) was given, rather than the system roots. */
  caGiven: boolean;
  clientCertGiven: boolean;
  tokenGiven: boolean;
}

export function connectionTarget(address: string, connect: ConnectOptions = {}): ConnectionTarget {
  const tls = connect.credentials ? connect.credentials._isSecure() : connect.tls !== undefined;
  return {
    address,
    tls,
    caGiven: connect.tls?.ca !== undefined,
    clientCertGiven: connect.tls?.cert !== undefined,
    tokenGiven: connect.token !== undefined,
  };
}

/** The codes with which a call fails when the server was not reached, or did not let the client in. */
export function isConnectionFailure(error: { code?: number }): boolean {
  return error.code === grpc.status.UNAVAILABLE || error.code === grpc.status.UNAUTHENTICATED;
}

const ADDRESS_FIX = 'check --address / RIGGER_ADDRESS';
const TLS_FIX = "give --server-ca CA.pem (or RIGGER_SERVER_CA) with the CA that signed the server's certificate";

/** grpc-js' own error inside its UNAVAILABLE text, without the wrapping, the timestamp and "Resolution note". */
function transportError(details: string): string | undefined {
  const match = /Last error: ([\s\S]*?)(?:\. Resolution note:[\s\S]*)?$/.exec(details);
  if (!match) return undefined;
  return match[1]!
    .replace(/^(?:[A-Za-z]*Error(?: \[[A-Z0-9_]+\])?: )/, '')
    .replace(/\s*\(\d{4}-\d\d-\d\dT[\d:.]+Z\)$/, '')
    .replace(/(?:\\n|\s)+$/, '')
    .replace(/\.$/, '');
}

function hostOf(address: string): string {
  const bracketed = /^\[([^\]]+)\](?::\d+)?$/.exec(address);
  if (bracketed) return bracketed[1]!;
  const colon = address.lastIndexOf(':');
  return colon > 0 && address.indexOf(':') === colon ? address.slice(0, colon) : address;
}

/**
 * Classifies a failed call (code + details) against what the client was configured with. Without a
 * probe, a connection the peer closed before HTTP/2 began stays 'closed' (a TLS server or a
 * non-gRPC one): diagnoseConnectionFailure tells them apart.
 */
export function describeConnectionFailure(error: { code: number; details: string }, target: ConnectionTarget): ConnectionFailure {
  const at = target.address;
  if (error.code === grpc.status.UNAUTHENTICATED) {
    return target.tokenGiven
      ? { kind: 'unauthenticated', message: `the server at ${at} does not accept this token; check --token / RIGGER_TOKEN` }
      : { kind: 'unauthenticated', message: `the server at ${at} requires a token; give it with --token or RIGGER_TOKEN` };
  }
  const details = error.details ?? '';
  if (error.code !== grpc.status.UNAVAILABLE) return { kind: 'other', message: details };
  if (/^Name resolution failed/.test(details)) {
    return { kind: 'dns', message: `the host name ${hostOf(at)} does not resolve; ${ADDRESS_FIX}` };
  }
  const cause = transportError(details);
  if (cause === undefined) return { kind: 'other', message: details };
  if (/ECONNREFUSED/.test(cause)) {
    return { kind: 'refused', message: `nothing is listening at ${at}; start the server with \`rig grpc\` (or ${ADDRESS_FIX})` };
  }
  if (/ENOTFOUND|EAI_AGAIN/.test(cause)) return { kind: 'dns', message: `the host name ${hostOf(at)} does not resolve; ${ADDRESS_FIX}` };
  if (/EHOSTUNREACH|ENETUNREACH|ETIMEDOUT/.test(cause)) {
    return {
      kind: 'unreachable',
      message: `cannot reach ${at} (${/E[A-Z]+/.exec(cause)![0]}): the host is down, or a firewall drops the connection; ${ADDRESS_FIX}`,
    };
  }
  if (/alert certificate required/.test(cause)) {
    return { kind: 'client-certificate', message: `the server at ${at} requires a client certificate (mTLS); give --client-cert and --client-key` };
  }
  if (/alert (?:unknown ca|bad certificate|certificate unknown|unsupported certificate)/.test(cause)) {
    return {
      kind: 'client-certificate',
      message: `the server at ${at} refused the client certificate; give one signed by the CA it trusts (its --tls-ca) with --client-cert and --client-key`,
    };
  }
  if (/ERR_TLS_CERT_ALTNAME_INVALID|does not match certificate's altnames/.test(details)) {
    return {
      kind: 'untrusted-certificate',
      message: `the server's certificate does not name ${hostOf(at)}; connect with --address to a name the certificate holds, or reissue it with ${hostOf(at)} in its subjectAltName`,
    };
  }
  if (/certificate has expired|certificate is not yet valid/.test(cause)) {
    return {
      kind: 'untrusted-certificate',
      message: `the server at ${at} presents a certificate that ${/not yet valid/.test(cause) ? 'is not yet valid' : 'has expired'}; the server needs a new one (--tls-cert / --tls-key)`,
    };
  }
  if (
    /unable to verify the first certificate|self[- ]signed certificate|unable to get (?:local )?issuer certificate|certificate signature failure/.test(cause)
  ) {
    return target.caGiven
      ? {
          kind: 'untrusted-certificate',
          message: `the server's certificate at ${at} is not signed by the CA in --server-ca / RIGGER_SERVER_CA (${cause}); give the CA that signed it`,
        }
      : { kind: 'untrusted-certificate', message: `the server's certificate at ${at} is not trusted by the system's CAs (${cause}); ${TLS_FIX}` };
  }
  if (target.tls && target.clientCertGiven && /^Failed to connect$|ECONNRESET|socket disconnected/.test(cause)) {
    // With TLS 1.3 the client hears of a refused certificate only as the connection closing.
    return {
      kind: 'client-certificate',
      message: `the server at ${at} closed the connection after the TLS handshake: it refused the client certificate; give one signed by the CA it trusts (its --tls-ca) with --client-cert and --client-key`,
    };
  }
  if (target.tls && /wrong version number|packet length too long|unknown protocol|record layer failure/i.test(cause)) {
    const drop = target.clientCertGiven ? '--server-ca, --client-cert and --client-key' : '--server-ca';
    return {
      kind: 'tls-not-served',
      message: `the server at ${at} does not serve TLS; connect without ${drop} (and RIGGER_SERVER_CA), or start \`rig grpc\` with --tls-cert and --tls-key`,
    };
  }
  if (!target.tls && /^Failed to connect$|ECONNRESET/.test(cause)) {
    return { kind: 'closed', message: `the server at ${at} closed the connection before gRPC began: if it serves TLS, ${TLS_FIX}; else ${ADDRESS_FIX}` };
  }
  if (/^Protocol error$/.test(cause)) {
    return { kind: 'not-grpc', message: `what answers at ${at} is not a gRPC server; ${ADDRESS_FIX}` };
  }
  return { kind: 'other', message: `cannot reach the server at ${at}: ${cause}` };
}

/**
 * describeConnectionFailure, plus what only the network can tell: for a connection closed before
 * gRPC began, whether a TLS handshake succeeds at the address (a TLS server reached without TLS).
 */
export async function diagnoseConnectionFailure(
  error: { code: number; details: string },
  target: ConnectionTarget,
  probeTimeoutMs = 2000,
): Promise<ConnectionFailure> {
  const failure = describeConnectionFailure(error, target);
  if (failure.kind !== 'closed') return failure;
  if (await servesTls(target.address, probeTimeoutMs)) {
    return { kind: 'tls-required', message: `the server at ${target.address} serves TLS and this client connected without it; ${TLS_FIX}` };
  }
  return {
    kind: 'not-grpc',
    message: `the server at ${target.address} closed the connection before gRPC began, and it does not serve TLS either; ${ADDRESS_FIX}`,
  };
}

/** Whether a TLS handshake (any certificate) completes at host:port within timeoutMs. */
function servesTls(address: string, timeoutMs: number): Promise<boolean> {
  const host = hostOf(address);
  const port = Number(address.slice(address.lastIndexOf(':') + 1));
  if (!Number.isInteger(port) || port <= 0 || port > 65535) return Promise.resolve(false);
  return new Promise((resolve) => {
    // No servername for an IP address: Node warns about that, and SNI is for names only.
    const socket = tls.connect({ host, port, rejectUnauthorized: false, ALPNProtocols: ['h2'], ...(net.isIP(host) === 0 && { servername: host }) });
    const done = (answer: boolean) => {
      clearTimeout(timer);
      socket.destroy();
      resolve(answer);
    };
    const timer = setTimeout(() => done(false), timeoutMs);
    socket.once('secureConnect', () => done(true));
    socket.once('error', () => done(false));
  });
}

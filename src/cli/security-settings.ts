// The server's auth, TLS and limit settings, resolved into what the gRPC server takes.
// Tokens: --token (read-write) and --read-only-token, plus any number in .rigger/config.json:
//   "tokens": ["a-read-write-token", { "token": "another", "readOnly": true }]
import fs from 'node:fs';
import path from 'node:path';
import { PUBLIC_SERVICES, type AccessToken, type AuthOptions, type PublicService } from '../grpc/auth';
import type { Limits } from '../grpc/limits';
import type { ServerTls } from '../grpc/server';
import { invalidArgument } from '../model/errors';
import type { Project } from '../config/project';
import { resolveSetting } from '../config/settings';

type Args = Record<string, unknown>;

const TOKEN_SHAPE = /^[\x21-\x7e]+$/; // visible ASCII: what an HTTP header value may carry after "Bearer "

function checkToken(token: string, source: string): string {
  if (!TOKEN_SHAPE.test(token)) throw invalidArgument(`${source}: a token must be visible ASCII characters without spaces`);
  return token;
}

export function resolveAuth(project: Project, argv: Args, env: NodeJS.ProcessEnv = process.env): AuthOptions {
  const tokens: AccessToken[] = [];
  const token = resolveSetting('token', argv, project.config, env);
  if (token !== '') tokens.push({ token: checkToken(token, 'token'), readOnly: false });
  const readOnly = resolveSetting('readOnlyToken', argv, project.config, env);
  if (readOnly !== '') tokens.push({ token: checkToken(readOnly, 'read-only token'), readOnly: true });
  tokens.push(...configTokens(project.config.tokens));
  return { tokens, publicServices: publicServices(resolveSetting('publicServices', argv, project.config, env)) };
}

/** The token /metrics of the operations endpoint requires, or undefined for none. */
export function resolveHttpToken(project: Project, argv: Args, env: NodeJS.ProcessEnv = process.env): string | undefined {
  const token = resolveSetting('httpToken', argv, project.config, env);
  return token === '' ? undefined : checkToken(token, '--http-token');
}

function configTokens(value: unknown): AccessToken[] {
  if (value === undefined || value === null) return [];
  const where = '"tokens" in .rigger/config.json';
  const shape = `${where} must be a list of tokens: ["token", {"token": "token", "readOnly": true}]`;
  if (!Array.isArray(value)) throw invalidArgument(shape);
  return value.map((entry: unknown, i) => {
    if (typeof entry === 'string') return { token: checkToken(entry, `${where}[${i}]`), readOnly: false };
    const object = entry as { token?: unknown; readOnly?: unknown };
    if (
      typeof object !== 'object' ||
      entry === null ||
      typeof object.token !== 'string' ||
      (object.readOnly !== undefined && typeof object.readOnly !== 'boolean')
    ) {
      throw invalidArgument(shape);
    }
    return { token: checkToken(object.token, `${where}[${i}]`), readOnly: object.readOnly === true };
  });
}

function publicServices(text: string): PublicService[] {
  if (text.trim() === 'none' || text.trim() === '') return [];
  return text.split(',').map((name) => {
    const service = name.trim() as PublicService;
    if (!PUBLIC_SERVICES.includes(service)) {
      throw invalidArgument(`--public-services: ${JSON.stringify(name)} is not one of ${PUBLIC_SERVICES.join(', ')} (or "none")`);
    }
    return service;
  });
}

function readPem(project: Project, file: string, what: string): Buffer {
  const full = path.resolve(project.dir, file);
  try {
    return fs.readFileSync(full);
  } catch (error) {
    throw invalidArgument(`${what}: cannot read ${full} (${(error as NodeJS.ErrnoException).code ?? (error as Error).message})`);
  }
}

export function resolveServerTls(project: Project, argv: Args): ServerTls | undefined {
  const cert = resolveSetting('tlsCert', argv, project.config);
  const key = resolveSetting('tlsKey', argv, project.config);
  const ca = resolveSetting('tlsCa', argv, project.config);
  if (cert === '' && key === '') {
    if (ca !== '') throw invalidArgument('--tls-ca requires --tls-cert and --tls-key (client certificates are only checked over TLS)');
    return undefined;
  }
  if (cert === '' || key === '') throw invalidArgument('TLS needs both --tls-cert and --tls-key');
  return {
    cert: readPem(project, cert, '--tls-cert'),
    key: readPem(project, key, '--tls-key'),
    ...(ca !== '' && { ca: readPem(project, ca, '--tls-ca') }),
  };
}

export function resolveLimits(project: Project, argv: Args): Limits {
  return {
    maxRequestBytes: resolveSetting('maxRequestBytes', argv, project.config),
    maxConcurrentStreams: resolveSetting('maxConcurrentStreams', argv, project.config),
    maxSubscribers: resolveSetting('maxSubscribers', argv, project.config),
    maxSubscribersPerConnection: resolveSetting('maxSubscribersPerConnection', argv, project.config),
    maxHealthWatchers: resolveSetting('maxHealthWatchers', argv, project.config),
    keepaliveTimeMs: resolveSetting('keepaliveTimeMs', argv, project.config),
    keepaliveTimeoutMs: resolveSetting('keepaliveTimeoutMs', argv, project.config),
    memberStallMs: resolveSetting('consumerMemberStallMs', argv, project.config),
    maxWritesInFlight: resolveSetting('maxWritesInFlight', argv, project.config),
  };
}

/** True when `host` is reachable only from this machine. */
export function isLoopback(host: string): boolean {
  return host === '' || host === 'localhost' || host === '::1' || host === '[::1]' || /^127\./.test(host);
}

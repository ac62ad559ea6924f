// Where and how client commands and sidecars reach the server: the flags they share, resolved
// with the same precedence as every setting (flag > environment > .rigger/config.json > default).
import path from 'node:path';
import type { ConnectOptions } from '../client/connect';
import { invalidArgument, RiggerError } from '../model/errors';
import { findProject, type Project } from './project';
import { resolveSetting, serverAddress, settingOption, settingOptions, type SettingOption } from './settings';

type Args = Record<string, unknown>;

/** The yargs options of a command that connects to a server. */
export function connectionOptions(): Record<string, SettingOption> {
  return {
    ...settingOptions('address'),
    // A client's --port names the server's port; the setting's own text is the server's.
    port: settingOption('port', 'port of the server on localhost, when --address is not given'),
    ...settingOptions('token', 'serverCa', 'clientCert', 'clientKey'),
  };
}

/** How client commands and sidecars authenticate and encrypt. */
export function resolveClientConnection(project: Project, argv: Args): ConnectOptions {
  const token = resolveSetting('token', argv, project.config);
  const ca = resolveSetting('serverCa', argv, project.config);
  const cert = resolveSetting('clientCert', argv, project.config);
  const key = resolveSetting('clientKey', argv, project.config);
  if ((cert === '') !== (key === '')) throw invalidArgument('a client certificate needs both --client-cert and --client-key');
  const resolve = (file: string) => path.resolve(project.dir, file);
  const tls = ca !== '' || cert !== '' ? { ...(ca !== '' && { ca: resolve(ca) }), ...(cert !== '' && { cert: resolve(cert), key: resolve(key) }) } : undefined;
  return { ...(token !== '' && { token }), ...(tls && { tls }) };
}

/** The server address and connection options a client command's flags name. */
export function clientConnection(project: Project, argv: Args): { address: string; connect: ConnectOptions } {
  return { address: serverAddress(project, argv), connect: resolveClientConnection(project, argv) };
}

/** The project's settings when run inside one; a sidecar on another host needs only --address. */
export function projectOrNone(dir: string): Project {
  try {
    return findProject(dir);
  } catch (error) {
    if (error instanceof RiggerError && error.kind === 'not_found') return { dir: path.resolve(dir), riggerDir: '', config: {} };
    throw error;
  }
}

/**
 * The project a client command runs in: with an address given (--address or RIGGER_ADDRESS) none
 * is needed, as for a sidecar; without one, the project says where the server listens.
 */
export function clientProject(dir: string, argv: Args): Project {
  const addressGiven = (typeof argv.address === 'string' && argv.address !== '') || (process.env.RIGGER_ADDRESS ?? '') !== '';
  return addressGiven ? projectOrNone(dir) : findProject(dir);
}

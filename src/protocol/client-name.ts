// The name a client gives itself (x-rigger-client-name), checked the same way by the client that
// sends it and the server that shows it: what GetHubStatus and `rig status` print must be short and
// printable whatever a client sends.
import { invalidArgument } from '../model/errors';
import { CLIENT_NAME_HEADER } from './metadata';

export const MAX_CLIENT_NAME_LENGTH = 100;

/** Printable ASCII, no spaces at either end. */
const PRINTABLE = /^[\x21-\x7e](?:[\x20-\x7e]*[\x21-\x7e])?$/;

/** `name` when it is 1-100 printable ASCII characters without spaces at either end; else invalid_argument saying so. */
export function validateClientName(name: string): string {
  if (name.length > MAX_CLIENT_NAME_LENGTH || !PRINTABLE.test(name)) {
    throw invalidArgument(
      `${CLIENT_NAME_HEADER} must be 1-${MAX_CLIENT_NAME_LENGTH} printable ASCII characters with no space at either end (e.g. "logger/4711"), got ${JSON.stringify(name.slice(0, MAX_CLIENT_NAME_LENGTH + 1))}`,
    );
  }
  return name;
}

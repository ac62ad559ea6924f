// The board's sidecars panel: every stream and durable consumer the hub has open, read from
// GetHubStatus every few seconds (the same view as `rig status`), at most SIDECARS_SHOWN of each.
import type { Logger } from 'pino';
import type { HubStatus, RiggerClient } from '../src/client/index';
import type { BoardState, SidecarLine } from './board-state';

export const SIDECARS_POLL_MS = 5_000;
const SIDECARS_SHOWN = 50;

export function sidecarLines(status: HubStatus): SidecarLine[] {
  const streams = status.streams.map((s) => ({
    name: s.client_name || `unnamed (${s.peer})`,
    kind: s.kind ?? '',
    lag: Number(s.lag ?? 0),
    live: s.live === true,
  }));
  const consumers = status.consumers.map((c) => ({ name: c.config?.name ?? '', kind: 'consumer', lag: Number(c.lag ?? 0), live: (c.members ?? 0) > 0 }));
  return [...streams, ...consumers];
}

/**
 * Reads the hub's status every `intervalMs` into `state` while `wanted()` (a page is open: nobody
 * else reads it); returns the stop. A failed read keeps the last list.
 */
export function pollSidecars(client: RiggerClient, state: BoardState, logger: Logger, wanted: () => boolean, intervalMs = SIDECARS_POLL_MS): () => void {
  let stopped = false;
  let timer: NodeJS.Timeout | undefined;
  const next = () => {
    if (!stopped) timer = setTimeout(poll, intervalMs).unref();
  };
  const poll = () => {
    if (!wanted()) return next();
    client
      .hubStatus(SIDECARS_SHOWN)
      .then((status) => !stopped && state.setSidecars(sidecarLines(status)))
      .catch((error: unknown) => logger.debug({ err: error }, 'could not read the hub status for the sidecars panel'))
      .finally(next);
  };
  poll();
  return () => {
    stopped = true;
    clearTimeout(timer);
  };
}

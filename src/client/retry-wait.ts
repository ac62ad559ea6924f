// The wait between two attempts to open a stream. The client's backoff sets its longest length;
// it ends early once the channel, having failed to connect during the wait, has a connection ready
// again: the server is back, and waiting out the rest of the delay would only add latency.
//
// Why the failure matters: a server that accepts connections but ends streams with UNAVAILABLE
// (shutting down, its database gone) leaves the channel READY, or brings it back to READY without
// a failed connect; such a wait runs its full length, so a refusing server is never hammered.
// The probing itself is grpc-js's (see RECONNECT_CHANNEL_OPTIONS in connect.ts): it reconnects on
// its own while in TRANSIENT_FAILURE, at most a second apart.
import * as grpc from '@grpc/grpc-js';

const { READY, TRANSIENT_FAILURE } = grpc.connectivityState;

/** Calls `retry` once, after `delayMs` or when `channel` has reconnected after a failure; returns a cancel function. */
export function waitToRetry(channel: grpc.ChannelInterface, delayMs: number, retry: () => void): () => void {
  let done = false;
  let failedToConnect = false;
  const fire = () => {
    if (done) return;
    done = true;
    clearTimeout(timer);
    retry();
  };
  const timer = setTimeout(fire, delayMs);

  // Deadline Infinity: no timer of grpc-js's own keeps the process alive; a watcher left behind by
  // cancel() fires (and does nothing) at the channel's next state change or its close.
  const observe = (): void => {
    if (done) return;
    let state: grpc.connectivityState;
    try {
      state = channel.getConnectivityState(true); // true: an IDLE channel starts connecting
    } catch {
      return; // closed: the timer alone decides, and the caller's own close check stops the retry
    }
    if (state === TRANSIENT_FAILURE) failedToConnect = true;
    if (state === READY && failedToConnect) return fire();
    try {
      channel.watchConnectivityState(state, Infinity, observe);
    } catch {
      // closed meanwhile: as above
    }
  };
  observe();
  return () => {
    done = true;
    clearTimeout(timer);
  };
}

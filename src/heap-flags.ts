import v8 from 'node:v8';

/**
 * Keeps V8's young generation at its initial size. V8 doubles it (up to 32 MB) whenever objects
 * keep surviving scavenges, which a server or sidecar under sustained load always sees; kept
 * small, their memory stays flat (docs/operations.md#memory-and-limits). V8's flags are
 * process-wide and starting a Worker applies Node's own again, so whoever starts one calls this
 * again once it is online.
 */
export function keepYoungGenerationSmall(): void {
  v8.setFlagsFromString('--semi-space-growth-factor=1');
}

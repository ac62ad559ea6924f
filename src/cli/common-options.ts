// Options several rig commands take, defined once so their help reads the same everywhere.

/** Only the commands that change tasks record who did it. */
export const ACTOR_OPTION = {
  type: 'string',
  describe: 'who is making the change, as the event log records it (default: your OS user name)',
} as const;

// A log's identity and the identities it descends from. A sequence number alone names an event only
// within one history: after a restore from a backup the log starts a new identity that records where
// it parted from the old one, so a position (identity, sequence) from before is either still the
// same place in the new history (at or before the parting point) or refused, never silently reused.
import { RiggerError } from './errors';

/** Why a log started a new identity. */
export type IdentityReason =
  /** `rig init`: a new, empty log. */
  | 'init'
  /** The log already had events when identities were introduced: positions taken before are this identity's. */
  | 'upgrade'
  /** `rig restore`: a backup put in place; history after the backup's newest event was lost. */
  | 'restore'
  /** `rig log new-identity`. */
  | 'manual';

export interface LogIdentity {
  logId: string;
  /** The identity this one continues; absent for the first. */
  parentLogId?: string;
  /** The last sequence both histories share (every event up to it is the same in both). */
  partedAfter?: number;
  reason: IdentityReason;
  createdAt: string;
}

/** A position (identity, sequence): every event up to `sequence` of log `logId`. */
export interface LogPosition {
  logId: string;
  sequence: number;
}

/** Where a stream resumes: a position, or (no logId) a sequence of the server's current log, as a bare --since names it. */
export type ResumePoint = { sequence: number; logId?: string };

/**
 * The furthest of a sidecar's candidate resume points (its checkpoint, its own output, --since), by
 * sequence; the first of equals. Positions of two logs are not ordered by sequence alone, but the
 * server refuses one it cannot continue, so a wrong pick is refused, never resumed silently.
 */
export function furthestResumePoint(...points: (ResumePoint | undefined)[]): ResumePoint | undefined {
  return points.reduce<ResumePoint | undefined>(
    (best, next) => (next !== undefined && (best === undefined || next.sequence > best.sequence) ? next : best),
    undefined,
  );
}

/**
 * Names the identity of positions taken before logs had identities (a checkpoint file that holds a
 * bare sequence): the log's first identity.
 */
export const LEGACY_LOG_ID = 'legacy';

/** A log id: 16 lowercase hex digits (64 random bits). */
export const LOG_ID_PATTERN = /^[0-9a-f]{16}$/;

export class LogLineage {
  /** `identities` oldest first; the last is the current one. */
  constructor(readonly identities: readonly LogIdentity[]) {
    if (identities.length === 0) throw new Error('a log lineage needs at least one identity');
  }

  get current(): LogIdentity {
    return this.identities[this.identities.length - 1]!;
  }

  get logId(): string {
    return this.current.logId;
  }

  /**
   * The sequence in the current log that `sequence` of log `logId` is, or a conflict error (gRPC
   * FAILED_PRECONDITION) naming both identities and what to do: `logId` is not in this log's
   * history, or the position lies past where the histories parted. Undefined `logId`: the current
   * identity (what a client that predates identities means).
   */
  resolve(logId: string | undefined, sequence: number): number {
    if (logId === undefined || logId === this.logId) return sequence;
    const wanted = logId === LEGACY_LOG_ID ? this.identities[0]!.logId : logId;
    let shared = Number.POSITIVE_INFINITY;
    for (let i = this.identities.length - 1; i >= 0; i--) {
      const identity = this.identities[i]!;
      if (identity.logId === wanted) {
        if (sequence <= shared) return sequence;
        throw this.diverged(wanted, sequence, shared);
      }
      shared = Math.min(shared, identity.partedAfter ?? Number.NEGATIVE_INFINITY);
    }
    throw new RiggerError(
      'conflict',
      `position ${sequence} is of log ${logId}, which this server's log ${this.logId} does not descend from (another project's log, or one re-created with rig init): its sequences name other events here. Start without a position (live, or from a snapshot), or with since_sequence 0 for all retained history of log ${this.logId}; a checkpoint file holding it must be deleted first`,
      { log_id: this.logId },
    );
  }

  private diverged(logId: string, sequence: number, partedAfter: number): RiggerError {
    return new RiggerError(
      'conflict',
      `position ${sequence} of log ${logId} is past where this server's log ${this.logId} parted from it (after sequence ${partedAfter}, at a restore or a new identity): events ${partedAfter + 1} to ${sequence} of log ${logId} are not in this log, and its own events from ${partedAfter + 1} on are other events. Resume from sequence ${partedAfter} of log ${this.logId} to receive every event of this log after the parting point (what was done for the lost events is not undone); docs/operations.md#what-subscribers-see-after-a-restore`,
      { log_id: this.logId, parted_after: String(partedAfter) },
    );
  }
}

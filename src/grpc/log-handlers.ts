import type { GetLogRequest__Output } from '../generated/rigger/v1/GetLogRequest';
import type { LogInfo } from '../generated/rigger/v1/LogInfo';
import type { LogLineage } from '../model/log-lineage';
import type { Store } from '../store/store';
import { unary, type ServiceContext } from './context';

export function logHandlers(context: ServiceContext) {
  return {
    GetLog: unary<GetLogRequest__Output, LogInfo>(context, () => logInfoOf(context.store)),
  };
}

/** The log's identity, lineage and range: GetLog's answer, and part of GetHubStatus's. */
export function logInfoOf(store: Store): LogInfo {
  const { log, lineage } = store;
  return { log_id: lineage.logId, newest_sequence: log.latestSequence(), oldest_sequence: log.oldestSequence(), lineage: lineageOf(lineage) };
}

function lineageOf(lineage: LogLineage): LogInfo['lineage'] {
  return lineage.identities.map((identity) => ({
    log_id: identity.logId,
    ...(identity.parentLogId !== undefined && { parent_log_id: identity.parentLogId }),
    ...(identity.partedAfter !== undefined && { parted_after: identity.partedAfter }),
    reason: identity.reason,
    created_at: identity.createdAt,
  }));
}

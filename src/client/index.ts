// The client library (`rigger/client`): what a sidecar is written on. Importing it loads neither
// the server nor SQLite.
export { RiggerClient, type RiggerClientOptions } from './rigger-client';
export { connectService, channelCredentials, DEFAULT_CHANNEL_OPTIONS, type ConnectOptions, type TlsFiles } from './connect';
export { DEFAULT_BOOKMARK_INTERVAL_MS } from '../model/validate';
export { type SubscribeOptions } from './subscribe-options';
export type { ConsumeOptions, ConsumedEvent } from './consumer-subscription';
export type { ConsumerStreamStatus } from './consumer-feed';
export type { AfterRestore, FeedStatus as StreamStatus, LogRestore, SnapshotMarker } from './event-feed';
export { LEGACY_LOG_ID, type LogPosition } from '../model/log-lineage';
export { StreamError } from './stream-error';
export { TaskWriter, WriteError, WriteOutcomeUnknown } from './task-writer';
export {
  connectionTarget,
  describeConnectionFailure,
  diagnoseConnectionFailure,
  isConnectionFailure,
  type ConnectionFailure,
  type ConnectionFailureKind,
  type ConnectionTarget,
} from './connection-failure';
export type { BackoffOptions } from './backoff';
export { readCheckpoint, writeCheckpoint } from './checkpoint';
export {
  TaskStatus,
  TaskEventType,
  statusName,
  eventTypeName,
  parseStatus,
  parseEventType,
  isStreamMessageType,
  type Task,
  type TaskEvent,
} from '../model/task';
export type { RiggerServiceClient } from '../generated/rigger/v1/RiggerService';
export type { LogInfo__Output as LogInfo } from '../generated/rigger/v1/LogInfo';
export type { HubStatus__Output as HubStatus } from '../generated/rigger/v1/HubStatus';

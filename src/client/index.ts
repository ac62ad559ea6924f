export { RiggerClient, type RiggerClientOptions } from './rigger-client';
export type { SubscribeOptions } from './subscribe-options';
export type { FeedStatus as StreamStatus } from './event-feed';
export { StreamError } from './stream-error';
export type { BackoffOptions } from './backoff';
export { readCheckpoint, writeCheckpoint } from './checkpoint';

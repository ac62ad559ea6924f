// The package's public API: the client library sidecars are written on, and the domain types.
export * from './client/index';
export { TaskStatus, TaskEventType, statusName, eventTypeName, type Task, type TaskEvent } from './model/task';

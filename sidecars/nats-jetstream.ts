// The NATS side of the bridge: one connection (no reconnect of its own: the bridge's loop owns
// retrying, so there is one backoff and every failure is logged), the stream's preparation, where
// the stream says publishing resumes, and what to tell a user about each kind of failure.
import { connect as connectNats, headers, type JetStreamClient, type JetStreamManager, type MsgHdrs, type NatsConnection } from 'nats';
import { LEGACY_LOG_ID, LOG_ID_PATTERN, type LogPosition } from '../src/model/log-lineage';
import { eventTypeName, type TaskEvent } from '../src/model/task';
import { eventJson } from './event-json';

export const SEQUENCE_HEADER = 'Rigger-Sequence';
/** The log identity the sequence is of; absent on messages of a bridge from before identities (read as LEGACY_LOG_ID). */
export const LOG_ID_HEADER = 'Rigger-Log-Id';
const EVENT_TYPE_HEADER = 'Rigger-Event-Type';
const CONNECT_TIMEOUT_MS = 5000;
/** A connection that stops answering while idle is noticed after about 2 x 10 s. */
const PING_INTERVAL_MS = 10_000;
const PUBLISH_TIMEOUT_MS = 5000;

/** A failure only a person can fix (the bridge stops rather than guess). */
export class BridgeConfigError extends Error {}

/** Connects to the first of `servers` that answers; rejects with the NATS error of the last one tried. */
export function openNats(servers: string[]): Promise<NatsConnection> {
  return connectNats({ servers, name: 'rigger-nats-bridge', reconnect: false, timeout: CONNECT_TIMEOUT_MS, pingInterval: PING_INTERVAL_MS, maxPingOut: 2 });
}

/**
 * Creates the stream when it is missing; returns the rigger position (log identity and sequence) of
 * the newest message the stream holds on the bridge's subjects (undefined when it holds none). This,
 * not the duplicate window, is where publishing resumes: it stays right however long NATS was away,
 * and after a NATS crash that lost messages it had acknowledged.
 */
export async function lastPositionInStream(jsm: JetStreamManager, stream: string, subjectPrefix: string): Promise<LogPosition | undefined> {
  try {
    await jsm.streams.info(stream);
  } catch (error) {
    if (apiErrorCode(error) !== STREAM_NOT_FOUND && !/stream not found/i.test((error as Error).message)) throw error;
    await jsm.streams.add({ name: stream, subjects: [`${subjectPrefix}.>`] });
    return undefined;
  }
  let message;
  try {
    message = await jsm.streams.getMessage(stream, { last_by_subj: `${subjectPrefix}.>` });
  } catch (error) {
    if (apiErrorCode(error) === NO_MESSAGE_FOUND || /no message found/i.test((error as Error).message)) return undefined;
    throw error;
  }
  const fromHeader = Number(message.header?.get(SEQUENCE_HEADER) || Number.NaN);
  const sequence = Number.isSafeInteger(fromHeader) ? fromHeader : sequenceInPayload(message.data);
  if (sequence === undefined) {
    throw new BridgeConfigError(
      `message ${message.seq} of stream ${stream} (${message.subject}) has no ${SEQUENCE_HEADER} header, so the bridge cannot tell where to resume; ` +
        `let only the bridge publish on ${subjectPrefix}.>, or give it another --subject-prefix or --stream`,
    );
  }
  const logId = message.header?.get(LOG_ID_HEADER) || LEGACY_LOG_ID;
  if (logId !== LEGACY_LOG_ID && !LOG_ID_PATTERN.test(logId)) {
    throw new BridgeConfigError(`message ${message.seq} of stream ${stream} (${message.subject}) has ${LOG_ID_HEADER} ${JSON.stringify(logId.slice(0, 40))}, not a log id; let only the bridge publish on ${subjectPrefix}.>`);
  }
  return { sequence, logId };
}

function sequenceInPayload(data: Uint8Array): number | undefined {
  try {
    const sequence = (JSON.parse(new TextDecoder().decode(data)) as { sequence?: unknown }).sequence;
    return typeof sequence === 'number' && Number.isSafeInteger(sequence) ? sequence : undefined;
  } catch {
    return undefined;
  }
}

/** Subject: <prefix>.<event type, lowercase>.<task id>; a task id made safe as one subject token. */
export function subjectFor(prefix: string, event: TaskEvent): string {
  const token = event.task.id.replace(/[.*>\s]/g, '_') || '_';
  return `${prefix}.${eventTypeName(event.event_type).toLowerCase()}.${token}`;
}

function headersFor(event: TaskEvent): MsgHdrs {
  const h = headers();
  h.set(SEQUENCE_HEADER, String(event.sequence));
  if (event.log_id !== undefined) h.set(LOG_ID_HEADER, event.log_id);
  h.set(EVENT_TYPE_HEADER, eventTypeName(event.event_type));
  return h;
}

/**
 * The message id JetStream de-duplicates on: log identity and sequence, so the events of a restored
 * log, which reuse the sequences of the lost ones, are never dropped as their repeats.
 */
export function messageIdOf(event: TaskEvent): string {
  return event.log_id === undefined ? String(event.sequence) : `${event.log_id}:${event.sequence}`;
}

/** Publishes one event (payload: the event as the wire delivers it, as JSON); true when JetStream had it already. */
export async function publishEvent(js: JetStreamClient, subjectPrefix: string, event: TaskEvent): Promise<boolean> {
  const ack = await js.publish(subjectFor(subjectPrefix, event), eventJson(event), {
    msgID: messageIdOf(event),
    headers: headersFor(event),
    timeout: PUBLISH_TIMEOUT_MS,
  });
  return ack.duplicate;
}

const STREAM_NOT_FOUND = 10059;
const NO_MESSAGE_FOUND = 10037;

function apiErrorCode(error: unknown): number | undefined {
  return (error as { api_error?: { err_code?: number } }).api_error?.err_code;
}

/** The --nats URL(s) as logs show them: a password in a URL is replaced by ***. */
export function redactNatsUrls(urls: string): string {
  return urls.replace(/\/\/([^:@/,\s]*):[^@/,\s]*@/g, '//$1:***@');
}

/** What a failure was, and what to do about it, for one log line. */
export interface NatsFailure {
  error: string;
  hint: string;
}

/** Names the failure (with the system error underneath, e.g. `connect ECONNREFUSED 127.0.0.1:4222`) and a fix. */
export function explainNatsFailure(error: unknown, step: 'connect' | 'jetstream' | 'publish' | 'connection lost', nats: string): NatsFailure {
  const e = error as { code?: string; message?: string; chainedError?: Error; api_error?: { description?: string } };
  const cause = e.chainedError?.message;
  const text = [e.message ?? String(error), cause && cause !== e.message ? `(${cause})` : '', e.api_error?.description ? `(${e.api_error.description})` : '']
    .filter(Boolean)
    .join(' ');
  const code = e.code ?? '';
  let hint: string;
  if (code === 'CONNECTION_REFUSED' || /ECONNREFUSED/.test(text)) {
    hint = `nothing listens at ${nats}: start nats-server with JetStream (nats-server -js), or point --nats at a running one`;
  } else if (/ENOTFOUND|EAI_AGAIN/.test(text)) {
    hint = `the host in --nats ${nats} does not resolve; check the URL`;
  } else if (code === '503' || /jetstream not enabled|no responders/i.test(text)) {
    hint =
      step === 'publish'
        ? `no JetStream stream took the message: the stream was deleted or no longer lists the bridge's subjects; it is recreated on the next attempt if missing`
        : `the NATS server at ${nats} has JetStream disabled (or not ready yet): start it with -js, or add a jetstream {} block to its config`;
  } else if (code === 'TIMEOUT' || /timeout/i.test(text)) {
    hint =
      step === 'publish'
        ? 'JetStream did not acknowledge a publish in time: NATS stopped or is overloaded; publishing resumes after the last message the stream holds'
        : `NATS at ${nats} did not answer in time: check the address, a firewall, or the server's load`;
  } else if (code.startsWith('AUTHORIZATION') || code.startsWith('AUTHENTICATION') || code.startsWith('PERMISSIONS')) {
    hint = 'NATS refused the bridge: put credentials in the --nats URL (nats://user:pass@host:port) or grant it the stream and its subjects';
  } else if (step === 'connection lost') {
    hint = 'NATS went away (stopped, restarted or the network dropped); publishing resumes after the last message the stream holds';
  } else {
    hint = `check the NATS server at ${nats} and its log`;
  }
  return { error: `${step}: ${text}`, hint };
}

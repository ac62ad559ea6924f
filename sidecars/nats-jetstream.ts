// The NATS side of the bridge: one connection (no reconnect of its own: the bridge's loop owns
// retrying, so there is one backoff and every failure is logged), the stream's preparation (its
// subjects, its duplicate window), where the stream says publishing resumes, and what to tell a
// user about each kind of failure.
import { connect as connectNats, type JetStreamManager, type NatsConnection } from 'nats';
import { LEGACY_LOG_ID, LOG_ID_PATTERN, type LogPosition } from '../src/model/log-lineage';
import { EVENT_SUBJECTS, LOG_ID_HEADER, PROJECT_HEADER, SEQUENCE_HEADER, SUBJECT_ROOT, subjectCovers } from './nats-project';

export const CONNECT_TIMEOUT_MS = 5000;
/** A connection that stops answering while idle is noticed after about 2 x 10 s. */
const PING_INTERVAL_MS = 10_000;

/** A failure only a person can fix (the bridge stops rather than guess). */
export class BridgeConfigError extends Error {}

/** Connects to the first of `servers` that answers; rejects with the NATS error of the last one tried. */
export function openNats(servers: string[], name = 'rigger-nats-bridge'): Promise<NatsConnection> {
  return connectNats({ servers, name, reconnect: false, timeout: CONNECT_TIMEOUT_MS, pingInterval: PING_INTERVAL_MS, maxPingOut: 2 });
}

/** What a session needs to know of the stream before it publishes. */
export interface StreamState {
  /** The rigger position of the newest message on the bridge's subjects (undefined when none). */
  last: LogPosition | undefined;
  /** The stream's duplicate window: a repeat of a message id within it is dropped. */
  duplicateWindowMs: number;
  replicas: number;
}

/**
 * Creates the stream when it is missing (taking every project's events, rigger.*.*.*, or the
 * custom prefix's); checks that it takes the bridge's subjects; returns the position of the newest
 * message the stream holds on them. This, not the duplicate window, is where publishing resumes: it
 * stays right however long NATS was away, and after a NATS crash that lost acknowledged messages.
 */
export async function prepareStream(jsm: JetStreamManager, stream: string, subjectPrefix: string, project: string, replicas = 1): Promise<StreamState> {
  const wanted = `${subjectPrefix}.*.*`;
  let info;
  try {
    info = await jsm.streams.info(stream);
  } catch (error) {
    if (apiErrorCode(error) !== STREAM_NOT_FOUND && !/stream not found/i.test((error as Error).message)) throw error;
    const subjects = subjectCovers(EVENT_SUBJECTS, wanted) && subjectPrefix.startsWith(`${SUBJECT_ROOT}.`) ? [EVENT_SUBJECTS] : [wanted];
    info = await jsm.streams.add({ name: stream, subjects, num_replicas: replicas });
    return { last: undefined, duplicateWindowMs: info.config.duplicate_window / 1e6, replicas: info.config.num_replicas };
  }
  const subjects = info.config.subjects ?? [];
  if (!subjects.some((s) => subjectCovers(s, wanted))) {
    throw new BridgeConfigError(
      `stream ${stream} takes ${JSON.stringify(subjects)}, not the bridge's subjects ${wanted}; add them (nats stream edit ${stream} --subjects '${EVENT_SUBJECTS}'), ` +
        `or give the bridge the --project (or --subject-prefix) the stream takes, or another --stream`,
    );
  }
  const state = { duplicateWindowMs: info.config.duplicate_window / 1e6, replicas: info.config.num_replicas };
  let message;
  try {
    message = await jsm.streams.getMessage(stream, { last_by_subj: `${subjectPrefix}.>` });
  } catch (error) {
    if (apiErrorCode(error) === NO_MESSAGE_FOUND || /no message found/i.test((error as Error).message)) return { last: undefined, ...state };
    throw error;
  }
  const where = `message ${message.seq} of stream ${stream} (${message.subject})`;
  const fromHeader = Number(message.header?.get(SEQUENCE_HEADER) || Number.NaN);
  const sequence = Number.isSafeInteger(fromHeader) ? fromHeader : sequenceInPayload(message.data);
  if (sequence === undefined) {
    throw new BridgeConfigError(
      `${where} has no ${SEQUENCE_HEADER} header, so the bridge cannot tell where to resume; ` +
        `let only the bridge publish on ${subjectPrefix}.>, or give it another --project, --subject-prefix or --stream`,
    );
  }
  const owner = message.header?.get(PROJECT_HEADER);
  if (owner && owner !== project) {
    throw new BridgeConfigError(
      `${where} is of project ${JSON.stringify(owner)}, not ${JSON.stringify(project)}: two projects share --subject-prefix ${subjectPrefix}; give each its own --project`,
    );
  }
  const logId = message.header?.get(LOG_ID_HEADER) || LEGACY_LOG_ID;
  if (logId !== LEGACY_LOG_ID && !LOG_ID_PATTERN.test(logId)) {
    throw new BridgeConfigError(
      `${where} has ${LOG_ID_HEADER} ${JSON.stringify(logId.slice(0, 40))}, not a log id; let only the bridge publish on ${subjectPrefix}.>`,
    );
  }
  return { last: { sequence, logId }, ...state };
}

function sequenceInPayload(data: Uint8Array): number | undefined {
  try {
    const sequence = (JSON.parse(new TextDecoder().decode(data)) as { sequence?: unknown }).sequence;
    return typeof sequence === 'number' && Number.isSafeInteger(sequence) ? sequence : undefined;
  } catch {
    return undefined;
  }
}

const STREAM_NOT_FOUND = 10059;
const NO_MESSAGE_FOUND = 10037;

export function apiErrorCode(error: unknown): number | undefined {
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

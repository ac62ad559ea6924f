// ListTasks page tokens: where the next page starts (the rowid of the last task sent; pages are
// newest first, so the next page is the rowids below it) and which listing the token belongs to (a
// fingerprint of the filter), so a token sent with another filter is refused instead of paging
// through a different list from an arbitrary point. Clients treat the token as opaque; only this
// module reads or writes one.
import { createHash } from 'node:crypto';
import { invalidArgument } from '../model/errors';

/** What a listing is: a token is valid only with the same scope it was issued for. */
export interface ListScope {
  status?: number;
  assignee?: string;
  /** Only when no status is given: a status filter already says whether archived tasks are in. */
  includeArchived: boolean;
}

const VERSION = 1;
/** A token this server issues is under 60 characters; anything much longer is not one. */
const MAX_TOKEN_LENGTH = 200;

const GARBLED =
  'page_token is not a token this server issued (garbled, cut short or from another program); send the next_page_token of the previous page unchanged, or leave page_token out to start from the first page';

function fingerprintOf(scope: ListScope): string {
  const key = JSON.stringify([scope.status ?? null, scope.assignee ?? null, scope.status === undefined && scope.includeArchived]);
  return createHash('sha256').update(key).digest('base64url').slice(0, 12);
}

/** The token for the page after the one ending with the task at `lastRowid`. */
export function encodePageToken(scope: ListScope, lastRowid: number): string {
  return Buffer.from(JSON.stringify({ v: VERSION, after: lastRowid, f: fingerprintOf(scope) })).toString('base64url');
}

/** The rowid the page after `token` starts below; INVALID_ARGUMENT for a garbled token or one of another listing. */
export function decodePageToken(scope: ListScope, token: string): number {
  if (token.length > MAX_TOKEN_LENGTH || !/^[A-Za-z0-9_-]+$/.test(token)) throw invalidArgument(GARBLED);
  let parsed: unknown;
  try {
    parsed = JSON.parse(Buffer.from(token, 'base64url').toString('utf8'));
  } catch {
    throw invalidArgument(GARBLED);
  }
  const { v, after, f } = (parsed ?? {}) as { v?: unknown; after?: unknown; f?: unknown };
  if (v !== VERSION || typeof f !== 'string' || typeof after !== 'number' || !Number.isSafeInteger(after) || after < 1) {
    throw invalidArgument(GARBLED);
  }
  if (f !== fingerprintOf(scope)) {
    throw invalidArgument(
      'page_token belongs to a listing with a different filter (status, assignee or include_archived); send it with the same filter as the request it came from, or leave page_token out to start this listing from the first page',
    );
  }
  return after;
}

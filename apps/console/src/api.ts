import { createClient, Client } from 'graphql-ws';

/** A GraphQL error as the API sends it: a message and the domain code in extensions.code. */
export class ApiError extends Error {
  constructor(message: string, readonly code: string | undefined) {
    super(message);
  }
}

const TOKEN_KEY = 'switchyard.console.token';

export const session = {
  get token(): string | null {
    return sessionStorage.getItem(TOKEN_KEY);
  },
  set token(t: string | null) {
    if (t) sessionStorage.setItem(TOKEN_KEY, t);
    else sessionStorage.removeItem(TOKEN_KEY);
  },
};

/** One GraphQL operation over HTTP on this origin, as the signed-in operator. */
export async function gql<T>(query: string, variables: Record<string, unknown> = {}, token = session.token): Promise<T> {
  const res = await fetch('/graphql', {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...(token ? { authorization: `Bearer ${token}` } : {}) },
    body: JSON.stringify({ query, variables }),
  });
  const body = (await res.json()) as { data?: T; errors?: { message: string; extensions?: { code?: string } }[] };
  if (body.errors?.length) throw new ApiError(body.errors.map((e) => e.message).join('; '), body.errors[0].extensions?.code);
  return body.data as T;
}

let ws: Client | null = null;

/** The graphql-ws client of this origin (token in connectionParams), opened once per sign-in. */
export function socket(): Client {
  ws ??= createClient({ url: `${location.protocol === 'https:' ? 'wss' : 'ws'}://${location.host}/graphql`, connectionParams: () => ({ authorization: `Bearer ${session.token}` }), lazy: true });
  return ws;
}

/**
 * Opens the session cookie for what the browser fetches without a header (reject downloads, the queue
 * dashboard): the server checks the token is an admin's and sets it HttpOnly, for /console only.
 */
export async function openSession(token: string): Promise<void> {
  const r = await fetch('/console-auth/session', { method: 'POST', headers: { authorization: `Bearer ${token}` } });
  if (!r.ok) throw new ApiError(`the session could not be opened (HTTP ${r.status})`, undefined);
}

export function signOut(): void {
  void fetch('/console-auth/session', { method: 'DELETE' });
  session.token = null;
  void ws?.dispose();
  ws = null;
}

export const JOB_FIELDS = `id kind status source target dryRun onConflict mode plan error errorCode rejectFile startedAt finishedAt stale
  progress { total done ratePerSecond etaSeconds phase steps { name total read written skipped unchanged errors finished } }
  verification { ok recallAt10 indexRecallAt10 orphans notes tables { name sourceCount targetCount sourceChecksum targetChecksum checksumMatch } }
  backups { step kind name rows createdAt }`;

export interface Step { name: string; total: number; read: number; written: number; skipped: number; unchanged: number | null; errors: number; finished: boolean }
export interface Job {
  id: string; kind: string; status: string; source: string; target: string; dryRun: boolean; onConflict: string; mode: string | null;
  plan: { steps?: Record<string, unknown>[]; refusal?: { code?: string; message?: string } | null; source?: unknown; target?: unknown } | null;
  error: string | null; errorCode: string | null; rejectFile: string | null; startedAt: string | null; finishedAt: string | null; stale: boolean;
  progress: { total: number; done: number; ratePerSecond: number; etaSeconds: number | null; phase: string; steps: Step[] } | null;
  verification: { ok: boolean; recallAt10: number | null; indexRecallAt10: number | null; orphans: number | null; notes: string[]; tables: { name: string; sourceCount: number; targetCount: number; sourceChecksum: string | null; targetChecksum: string | null; checksumMatch: boolean | null }[] } | null;
  backups: { step: string; kind: string; name: string; rows: number; createdAt: string }[];
}

import * as http from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Socket } from 'node:net';

/**
 * A small, real HTTP server speaking the subset of Ollama's REST API that Switchyard uses, for tests:
 *
 *   GET  /            -> "Ollama is running"
 *   GET  /api/version -> {"version": "..."}
 *   GET  /api/tags    -> {"models": [{name, model, modified_at, size, digest, details}]}
 *   POST /api/generate, POST /api/chat -> stream:false: one JSON object;
 *        stream:true (Ollama's default when omitted): NDJSON, one object per line, last one `done:true`.
 *
 * Unknown models get 404 `{"error":"model \"x\" not found, try pulling it first"}`. Streamed answers are sent
 * in several NDJSON lines, and the bytes are written in pieces that deliberately cut lines (and multi-byte
 * characters) in two, with a short pause between writes, so clients must reassemble lines across TCP chunks.
 *
 * Every request is recorded in `requests` (parsed body included), generate/chat ones also in `calls`.
 */

export interface FakeOllamaRequest {
  method: string;
  path: string;
  headers: http.IncomingHttpHeaders;
  /** Parsed JSON body (undefined when there was none or it was not JSON). */
  body: any;
  rawBody: string;
}

/** A generate or chat request, normalised so a reply function can look at it without caring which. */
export interface FakeOllamaCall {
  endpoint: 'generate' | 'chat';
  model: string;
  /** `prompt` for /api/generate; the content of the last user message for /api/chat. */
  prompt: string;
  /** `system` for /api/generate; the content of the first system message for /api/chat. */
  system?: string;
  /** Chat messages (for /api/generate: the system and prompt expressed as messages). */
  messages: Array<{ role: string; content: string }>;
  /** Ollama `options` (temperature, num_predict, ...). */
  options: Record<string, unknown>;
  stream: boolean;
  keepAlive?: string | number;
  /** The whole request body as received. */
  body: any;
}

export interface FakeOllamaReplySpec {
  /** The answer. Streamed as several lines (split on word boundaries) unless `chunks` is given. */
  text?: string;
  /** The exact pieces to stream, one NDJSON line each (non-streaming replies send them joined). */
  chunks?: string[];
  /** Answer with this HTTP status and `{"error": error}` instead (e.g. 500). */
  status?: number;
  error?: string;
  /** Never answer (the request stays open until the client gives up or the server closes). */
  hang?: boolean;
  /** Wait this long before sending the response headers. */
  delayMs?: number;
  /** Streaming: after `errorAfterChunks` lines (default: half of them, at least 1), send `{"error": midStreamError}` and end. Non-streaming: HTTP 500. */
  midStreamError?: string;
  errorAfterChunks?: number;
  /** Streaming: send this many lines, then go silent without ending the response. Non-streaming: hang. */
  stallAfterChunks?: number;
  /** Streaming: send this many lines, then destroy the socket. Non-streaming: destroy it at once. */
  dropAfterChunks?: number;
  /** `done_reason` of the final object (default "stop"). */
  doneReason?: string;
}

export type FakeOllamaReply = string | FakeOllamaReplySpec;
export type FakeOllamaReplyFn = (call: FakeOllamaCall) => FakeOllamaReply | Promise<FakeOllamaReply>;

/** A failure applied to every endpoint (including /api/tags) until cleared with setOutage(null). */
export type FakeOllamaOutage = { status: number; error?: string } | 'hang' | 'reset';

export interface FakeOllamaOptions {
  /** Installed models, as /api/tags lists them (default ["llama3.2:latest"]). Names without a tag mean ":latest". */
  models?: string[];
  /** How to answer generate/chat calls (default: `fake answer to: <prompt>`). */
  reply?: FakeOllamaReplyFn;
  /** Pause between the pieces of a streamed response (default 2 ms). */
  chunkDelayMs?: number;
  /** Host to bind (default 127.0.0.1); the port is always chosen by the OS. */
  host?: string;
}

export interface FakeOllama {
  /** Base URL, e.g. http://127.0.0.1:54321 (no trailing slash). */
  readonly url: string;
  readonly port: number;
  /** Every request received, in order (live array). */
  readonly requests: FakeOllamaRequest[];
  /** generate/chat requests only, normalised (live array). */
  readonly calls: FakeOllamaCall[];
  /** The most recent generate/chat call (throws if there was none). */
  lastCall(): FakeOllamaCall;
  setReply(fn: FakeOllamaReplyFn): void;
  setModels(models: string[]): void;
  setOutage(outage: FakeOllamaOutage | null): void;
  /** Forget recorded requests and restore the initial reply, models and no outage. */
  reset(): void;
  /** Stops listening and drops open connections (hanging requests included). Idempotent. */
  close(): Promise<void>;
}

export const defaultFakeOllamaReply: FakeOllamaReplyFn = (call) => `fake answer to: ${call.prompt}`;

export async function startFakeOllama(opts: FakeOllamaOptions = {}): Promise<FakeOllama> {
  const initialModels = opts.models ?? ['llama3.2:latest'];
  const initialReply = opts.reply ?? defaultFakeOllamaReply;
  const chunkDelayMs = opts.chunkDelayMs ?? 2;
  let models = [...initialModels];
  let reply = initialReply;
  let outage: FakeOllamaOutage | null = null;
  let closed = false;
  const requests: FakeOllamaRequest[] = [];
  const calls: FakeOllamaCall[] = [];
  const sockets = new Set<Socket>();
  const timers = new Set<NodeJS.Timeout>();

  const sleep = (ms: number) =>
    new Promise<void>((resolve) => {
      const t = setTimeout(() => {
        timers.delete(t);
        resolve();
      }, ms);
      timers.add(t);
    });

  const server = http.createServer({ noDelay: true, keepAliveTimeout: 1000 }, (req, res) => {
    handle(req, res).catch((e: unknown) => {
      if (!res.headersSent && !res.destroyed) sendJson(res, 500, { error: e instanceof Error ? e.message : String(e) });
      else res.destroy();
    });
  });
  server.on('connection', (s) => {
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
  });

  async function handle(req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
    const rawBody = await readBody(req);
    const path = (req.url ?? '/').split('?')[0];
    let body: any;
    try {
      body = rawBody ? JSON.parse(rawBody) : undefined;
    } catch {
      body = undefined;
    }
    const method = req.method ?? 'GET';
    requests.push({ method, path, headers: req.headers, body, rawBody });

    if (outage) {
      if (outage === 'hang') return; // keep the request open
      if (outage === 'reset') {
        req.socket.destroy();
        return;
      }
      return sendJson(res, outage.status, { error: outage.error ?? `fake ollama outage (HTTP ${outage.status})` });
    }

    if ((method === 'GET' || method === 'HEAD') && path === '/') {
      res.writeHead(200, { 'content-type': 'text/plain; charset=utf-8' });
      res.end('Ollama is running');
      return;
    }
    if (method === 'GET' && path === '/api/version') return sendJson(res, 200, { version: '0.0.0-fake' });
    if (method === 'GET' && path === '/api/tags') {
      return sendJson(res, 200, {
        models: models.map((name) => {
          const full = withTag(name);
          return {
            name: full,
            model: full,
            modified_at: '2025-01-01T00:00:00.000000000Z',
            size: 1_000_000,
            digest: fakeDigest(full),
            details: { format: 'gguf', family: 'fake', families: ['fake'], parameter_size: '1B', quantization_level: 'Q4_K_M' },
          };
        }),
      });
    }
    if (path === '/api/generate' || path === '/api/chat') {
      if (method !== 'POST') return sendJson(res, 405, { error: 'method not allowed' });
      return handleCompletion(path === '/api/chat' ? 'chat' : 'generate', rawBody, body, req, res);
    }
    res.writeHead(404, { 'content-type': 'text/plain' });
    res.end('404 page not found');
  }

  async function handleCompletion(
    endpoint: 'generate' | 'chat',
    rawBody: string,
    body: any,
    req: http.IncomingMessage,
    res: http.ServerResponse,
  ): Promise<void> {
    if (!rawBody) return sendJson(res, 400, { error: 'missing request body' });
    if (body === undefined || typeof body !== 'object' || body === null) return sendJson(res, 400, { error: 'invalid JSON in request body' });
    if (typeof body.model !== 'string' || !body.model) return sendJson(res, 400, { error: 'model is required' });
    if (endpoint === 'chat' && !Array.isArray(body.messages)) return sendJson(res, 400, { error: 'messages is required' });
    if (!models.some((m) => sameModel(m, body.model))) {
      return sendJson(res, 404, { error: `model "${body.model}" not found, try pulling it first` });
    }

    const call = toCall(endpoint, body);
    calls.push(call);
    let spec: FakeOllamaReplySpec;
    try {
      const r = await reply(call);
      spec = typeof r === 'string' ? { text: r } : r;
    } catch (e) {
      return sendJson(res, 500, { error: e instanceof Error ? e.message : String(e) });
    }

    if (spec.delayMs) await sleep(spec.delayMs);
    if (closed || res.destroyed) return;
    if (spec.hang) return;
    if (spec.status !== undefined && spec.status >= 400) {
      return sendJson(res, spec.status, { error: spec.error ?? `fake ollama error (HTTP ${spec.status})` });
    }
    const pieces = spec.chunks ?? splitAnswer(spec.text ?? '');
    const text = pieces.join('');
    const doneReason = spec.doneReason ?? 'stop';
    const createdAt = () => new Date().toISOString();
    const stats = {
      total_duration: 123_456_789,
      load_duration: 1_234_567,
      prompt_eval_count: countTokens(call.messages.map((m) => m.content).join(' ')),
      prompt_eval_duration: 12_345_678,
      eval_count: Math.max(pieces.length, 1),
      eval_duration: 98_765_432,
    };

    if (!call.stream) {
      if (spec.dropAfterChunks !== undefined) {
        req.socket.destroy();
        return;
      }
      if (spec.stallAfterChunks !== undefined) return; // hang
      if (spec.midStreamError !== undefined) return sendJson(res, 500, { error: spec.midStreamError });
      const base = { model: body.model, created_at: createdAt() };
      return sendJson(
        res,
        200,
        endpoint === 'chat'
          ? { ...base, message: { role: 'assistant', content: text }, done: true, done_reason: doneReason, ...stats }
          : { ...base, response: text, done: true, done_reason: doneReason, context: [1, 2, 3], ...stats },
      );
    }

    // Streaming: build the NDJSON lines first, then write the bytes in deliberately misaligned pieces.
    const lineFor = (content: string) =>
      JSON.stringify(
        endpoint === 'chat'
          ? { model: body.model, created_at: createdAt(), message: { role: 'assistant', content }, done: false }
          : { model: body.model, created_at: createdAt(), response: content, done: false },
      );
    const lines = pieces.map(lineFor);
    let cutAt = lines.length; // number of content lines sent before the special ending
    let ending: 'done' | 'error' | 'stall' | 'drop' = 'done';
    if (spec.midStreamError !== undefined) {
      ending = 'error';
      cutAt = spec.errorAfterChunks ?? Math.max(1, Math.floor(lines.length / 2));
    } else if (spec.stallAfterChunks !== undefined) {
      ending = 'stall';
      cutAt = spec.stallAfterChunks;
    } else if (spec.dropAfterChunks !== undefined) {
      ending = 'drop';
      cutAt = spec.dropAfterChunks;
    }
    const out = lines.slice(0, cutAt);
    if (ending === 'error') out.push(JSON.stringify({ error: spec.midStreamError }));
    if (ending === 'done') {
      out.push(
        JSON.stringify(
          endpoint === 'chat'
            ? { model: body.model, created_at: createdAt(), message: { role: 'assistant', content: '' }, done: true, done_reason: doneReason, ...stats }
            : { model: body.model, created_at: createdAt(), response: '', done: true, done_reason: doneReason, context: [1, 2, 3], ...stats },
        ),
      );
    }

    res.writeHead(200, { 'content-type': 'application/x-ndjson', 'transfer-encoding': 'chunked' });
    res.flushHeaders();
    const payload = Buffer.from(out.map((l) => `${l}\n`).join(''), 'utf8');
    for (const piece of misalignedPieces(payload, out)) {
      if (closed || res.destroyed) return;
      res.write(piece);
      await sleep(chunkDelayMs);
    }
    if (closed || res.destroyed) return;
    if (ending === 'stall') return; // leave the response open
    if (ending === 'drop') {
      req.socket.destroy();
      return;
    }
    res.end();
  }

  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, opts.host ?? '127.0.0.1', () => {
      server.off('error', reject);
      resolve();
    });
  });
  const address = server.address() as AddressInfo;
  const host = address.family === 'IPv6' ? `[${address.address}]` : address.address;
  const url = `http://${host}:${address.port}`;

  let closing: Promise<void> | undefined;
  return {
    url,
    port: address.port,
    requests,
    calls,
    lastCall() {
      const c = calls[calls.length - 1];
      if (!c) throw new Error('fake ollama: no generate/chat call received yet');
      return c;
    },
    setReply(fn) {
      reply = fn;
    },
    setModels(list) {
      models = [...list];
    },
    setOutage(o) {
      outage = o;
    },
    reset() {
      requests.length = 0;
      calls.length = 0;
      reply = initialReply;
      models = [...initialModels];
      outage = null;
    },
    close() {
      closing ??= new Promise<void>((resolve) => {
        closed = true;
        for (const t of timers) clearTimeout(t);
        timers.clear();
        server.close(() => resolve());
        server.closeAllConnections();
        for (const s of sockets) s.destroy();
      });
      return closing;
    },
  };
}

// -------------------------------------------------------------------------------------------------

function sendJson(res: http.ServerResponse, status: number, value: unknown): void {
  if (res.destroyed) return;
  const body = JSON.stringify(value);
  res.writeHead(status, { 'content-type': 'application/json; charset=utf-8', 'content-length': Buffer.byteLength(body) });
  res.end(body);
}

function readBody(req: http.IncomingMessage): Promise<string> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
    req.on('error', reject);
  });
}

function toCall(endpoint: 'generate' | 'chat', body: any): FakeOllamaCall {
  const options = body.options && typeof body.options === 'object' ? (body.options as Record<string, unknown>) : {};
  const stream = body.stream !== false; // Ollama streams unless told otherwise
  if (endpoint === 'generate') {
    const prompt = typeof body.prompt === 'string' ? body.prompt : '';
    const system = typeof body.system === 'string' ? body.system : undefined;
    const messages = [...(system !== undefined ? [{ role: 'system', content: system }] : []), { role: 'user', content: prompt }];
    return { endpoint, model: body.model, prompt, system, messages, options, stream, keepAlive: body.keep_alive, body };
  }
  const messages = (body.messages as unknown[]).map((m: any) => ({ role: String(m?.role ?? ''), content: String(m?.content ?? '') }));
  const lastUser = [...messages].reverse().find((m) => m.role === 'user');
  const system = messages.find((m) => m.role === 'system')?.content;
  return { endpoint, model: body.model, prompt: lastUser?.content ?? '', system, messages, options, stream, keepAlive: body.keep_alive, body };
}

/** Splits an answer into word-ish pieces (whitespace kept), at least two when the text allows it. */
export function splitAnswer(text: string): string[] {
  if (!text) return [''];
  const words = text.match(/\s*\S+\s*/g) ?? [text];
  if (words.join('') !== text) return [text];
  if (words.length > 1) return words;
  const chars = Array.from(text); // code points: never split a surrogate pair
  if (chars.length < 2) return [text];
  const mid = Math.ceil(chars.length / 2);
  return [chars.slice(0, mid).join(''), chars.slice(mid).join('')];
}

/**
 * Cuts the NDJSON payload so that no write ends on a line boundary: each write is the second half of one
 * line (newline included) plus the first half of the next. Cuts are at byte offsets, so a multi-byte UTF-8
 * character can be split between two writes too.
 */
function misalignedPieces(payload: Buffer, lines: string[]): Buffer[] {
  const cuts: number[] = [];
  let offset = 0;
  for (const line of lines) {
    const len = Buffer.byteLength(line, 'utf8');
    if (len > 1) cuts.push(offset + Math.floor(len / 2));
    offset += len + 1;
  }
  const pieces: Buffer[] = [];
  let start = 0;
  for (const c of cuts) {
    if (c > start) pieces.push(payload.subarray(start, c));
    start = c;
  }
  if (start < payload.length) pieces.push(payload.subarray(start));
  return pieces;
}

function withTag(name: string): string {
  return name.slice(name.lastIndexOf('/') + 1).includes(':') ? name : `${name}:latest`;
}

function sameModel(a: string, b: string): boolean {
  return a === b || withTag(a) === withTag(b);
}

function countTokens(s: string): number {
  return s.split(/\s+/).filter(Boolean).length;
}

function fakeDigest(name: string): string {
  let h = 0;
  for (const ch of name) h = (h * 31 + ch.charCodeAt(0)) >>> 0;
  return h.toString(16).padStart(8, '0').repeat(8);
}

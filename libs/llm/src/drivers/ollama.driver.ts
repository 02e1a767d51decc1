import { BadInputError, ProviderUnavailableError, SwitchyardError } from '@switchyard/core';
import { Ollama } from 'ollama';
import { ChatMessage, GenerateOptions, Llm } from '../llm.port';

export interface OllamaOptions {
  /** Base URL of the Ollama server, e.g. http://localhost:11434 (a trailing slash is ignored). */
  url: string;
  /** Model name as Ollama knows it, e.g. `llama3.2` or `llama3.2:3b`. */
  model: string;
  /**
   * Non-streaming calls and ping(): the whole request must finish within this time.
   * Streaming calls: the response must start within this time and the server may not go silent for longer
   * than this between two chunks (a long answer that keeps flowing is never cut off).
   */
  timeoutMs: number;
  /** Ollama `keep_alive` (how long the model stays loaded after the request), e.g. `5m`, `0`, `-1`. */
  keepAlive?: string;
}

/**
 * LLM driver for Ollama's native REST API (https://docs.ollama.com/api), through the maintained `ollama`
 * client (ollama-js), given a fetch that carries this driver's deadlines: the client has no per-call
 * timeout of its own.
 *
 * - generate()   -> POST /api/generate  {model, prompt, system?, stream:false, options, keep_alive?}
 * - chat()       -> POST /api/chat      {model, messages, stream:false, options, keep_alive?}
 * - chatStream() -> POST /api/chat      {..., stream:true}; the body is NDJSON, one object per line
 * - ping()       -> GET  /api/tags      true when the server answers and lists the model
 *
 * GenerateOptions map to Ollama as: temperature -> options.temperature, maxTokens -> options.num_predict,
 * system -> `system` (generate) or a leading system message (chat).
 *
 * Errors: anything that goes wrong talking to Ollama (connection refused, timeout, HTTP error status,
 * `{"error": ...}` in the body or mid-stream, malformed response) is a ProviderUnavailableError whose
 * provider is `ollama at <url>` and whose message says what happened. When the caller's AbortSignal fires
 * the call rejects with a SwitchyardError of code CANCELLED instead.
 */
export class OllamaLlm extends Llm {
  readonly provider = 'ollama';
  readonly model: string;
  private readonly baseUrl: string;
  private readonly timeoutMs: number;
  private readonly keepAlive?: string;

  constructor(options: OllamaOptions) {
    super();
    if (!options.url) throw new BadInputError('url', 'the Ollama URL is required');
    let parsed: URL;
    try {
      parsed = new URL(options.url);
    } catch {
      throw new BadInputError('url', `"${options.url}" is not a valid URL`);
    }
    if (parsed.protocol !== 'http:' && parsed.protocol !== 'https:') {
      throw new BadInputError('url', `"${options.url}" must be an http(s) URL`);
    }
    if (!options.model?.trim()) throw new BadInputError('model', 'the Ollama model name is required');
    if (!Number.isFinite(options.timeoutMs) || options.timeoutMs <= 0) {
      throw new BadInputError('timeoutMs', 'must be a positive number of milliseconds');
    }
    this.baseUrl = options.url.replace(/\/+$/, '');
    this.model = options.model.trim();
    this.timeoutMs = options.timeoutMs;
    this.keepAlive = options.keepAlive;
  }

  /** The provider label used in errors: `ollama at <url>`. */
  get label(): string {
    return `ollama at ${this.baseUrl}`;
  }

  async generate(prompt: string, options: GenerateOptions = {}): Promise<string> {
    if (typeof prompt !== 'string' || !prompt.trim()) throw new BadInputError('prompt', 'must not be empty');
    const fields = this.commonFields(options);
    const result = await this.call('/api/generate', options.signal, (c) => c.generate({ model: this.model, prompt, ...(options.system ? { system: options.system } : {}), stream: false, ...fields }));
    if (typeof result.response !== 'string') {
      throw this.unavailable(new Error('unexpected /api/generate response: no "response" text'));
    }
    return result.response;
  }

  async chat(messages: ChatMessage[], options: GenerateOptions = {}): Promise<string> {
    const request = { model: this.model, messages: this.chatMessages(messages, options), stream: false as const, ...this.commonFields(options) };
    const result = await this.call('/api/chat', options.signal, (c) => c.chat(request));
    if (typeof result.message?.content !== 'string') {
      throw this.unavailable(new Error('unexpected /api/chat response: no "message.content" text'));
    }
    return result.message.content;
  }

  async *chatStream(messages: ChatMessage[], options: GenerateOptions = {}): AsyncGenerator<string, void, undefined> {
    const request = { model: this.model, messages: this.chatMessages(messages, options), stream: true as const, ...this.commonFields(options) };
    const callerSignal = options.signal;
    throwIfCancelled(callerSignal, this.label);

    // Idle timeout: re-armed whenever a part arrives, so only a silent server times out.
    const idle = new AbortController();
    let timer: NodeJS.Timeout | undefined;
    const arm = () => {
      if (timer) clearTimeout(timer);
      timer = setTimeout(() => idle.abort(new TimeoutMarker(this.timeoutMs)), this.timeoutMs);
    };
    const signal = callerSignal ? AbortSignal.any([callerSignal, idle.signal]) : idle.signal;
    let stream: (AsyncIterable<{ message?: { content?: string } }> & { abort(): void }) | undefined;
    let finished = false;
    try {
      arm();
      try {
        stream = (await this.client(signal).chat(request)) as unknown as typeof stream;
      } catch (e) {
        throw this.failure(e, signal, callerSignal, '/api/chat');
      }
      const parts = stream![Symbol.asyncIterator]();
      for (;;) {
        arm();
        let next: IteratorResult<{ message?: { content?: string } }>;
        try {
          next = await parts.next();
        } catch (e) {
          throw this.streamFailure(e, signal, callerSignal);
        }
        if (next.done) {
          finished = true;
          return;
        }
        const text = next.value.message?.content;
        if (typeof text === 'string' && text.length > 0) {
          if (timer) clearTimeout(timer); // the consumer's pace is not the server's silence
          yield text;
          throwIfCancelled(callerSignal, this.label);
        }
      }
    } finally {
      if (timer) clearTimeout(timer);
      // The consumer stopped early, or an error: dropping the connection is how Ollama learns to stop generating.
      if (!finished) stream?.abort();
    }
  }

  async ping(): Promise<boolean> {
    try {
      const names = await this.listModels();
      return names.some((n) => sameModel(n, this.model));
    } catch {
      return false;
    }
  }

  /** Model names the server has (GET /api/tags). Throws ProviderUnavailableError when unreachable. */
  async listModels(signal?: AbortSignal): Promise<string[]> {
    const parsed = (await this.call('/api/tags', signal, (c) => c.list())) as { models?: Array<{ name?: string; model?: string }> };
    if (!Array.isArray(parsed?.models)) throw this.unavailable(new Error('unexpected /api/tags response: no "models" list'));
    const names = new Set<string>();
    for (const m of parsed.models) {
      if (typeof m?.name === 'string') names.add(m.name);
      if (typeof m?.model === 'string') names.add(m.model);
    }
    return [...names];
  }

  // ---------------------------------------------------------------------------------------------

  private commonFields(options: GenerateOptions): { options?: Record<string, number>; keep_alive?: string } {
    const modelOptions: Record<string, number> = {};
    if (options.temperature !== undefined) {
      if (!Number.isFinite(options.temperature) || options.temperature < 0) {
        throw new BadInputError('temperature', 'must be a number >= 0');
      }
      modelOptions.temperature = options.temperature;
    }
    if (options.maxTokens !== undefined) {
      if (!Number.isInteger(options.maxTokens) || options.maxTokens <= 0) {
        throw new BadInputError('maxTokens', 'must be a positive integer');
      }
      modelOptions.num_predict = options.maxTokens;
    }
    return {
      ...(Object.keys(modelOptions).length ? { options: modelOptions } : {}),
      ...(this.keepAlive !== undefined ? { keep_alive: this.keepAlive } : {}),
    };
  }

  private chatMessages(messages: ChatMessage[], options: GenerateOptions): ChatMessage[] {
    if (!Array.isArray(messages) || messages.length === 0) throw new BadInputError('messages', 'must not be empty');
    for (const m of messages) {
      if (!m || !['system', 'user', 'assistant'].includes(m.role) || typeof m.content !== 'string') {
        throw new BadInputError('messages', 'each message needs a role (system, user or assistant) and string content');
      }
    }
    const out = messages.map((m) => ({ role: m.role, content: m.content }));
    return options.system ? [{ role: 'system', content: options.system }, ...out] : out;
  }

  /** An ollama-js client whose every request carries `signal` (ours: the deadline and the caller's abort). */
  private client(signal: AbortSignal): Ollama {
    return new Ollama({
      host: this.baseUrl,
      fetch: (input: Parameters<typeof fetch>[0], init?: RequestInit) => fetch(input, { ...init, signal: init?.signal ? AbortSignal.any([init.signal, signal]) : signal }),
    });
  }

  /** One non-streaming call, the whole of it bounded by timeoutMs. */
  private async call<T>(endpoint: string, callerSignal: AbortSignal | undefined, fn: (client: Ollama) => Promise<T>): Promise<T> {
    throwIfCancelled(callerSignal, this.label);
    const timeout = AbortSignal.timeout(this.timeoutMs);
    const signal = callerSignal ? AbortSignal.any([callerSignal, timeout]) : timeout;
    let result: T;
    try {
      result = await fn(this.client(signal));
    } catch (e) {
      throw this.failure(e, signal, callerSignal, endpoint);
    }
    const error = (result as { error?: unknown } | null)?.error;
    if (error !== undefined) throw this.unavailable(new Error(this.explain(String(error))));
    return result;
  }

  /** A failed request: an HTTP error status with Ollama's message, a malformed body, or the transport's failure. */
  private failure(e: unknown, signal: AbortSignal, callerSignal: AbortSignal | undefined, endpoint: string): SwitchyardError {
    // ollama-js's ResponseError (not exported): an HTTP error status with the server's message
    const http = e as { name?: unknown; status_code?: unknown; error?: unknown };
    if (http?.name === 'ResponseError' && typeof http.status_code === 'number') {
      const message = typeof http.error === 'string' ? http.error : '';
      const detail = `HTTP ${http.status_code}${message ? `: ${this.explain(truncate(message, 500))}` : ''}`;
      const err = this.unavailable(new Error(detail));
      err.details.status = http.status_code;
      return err;
    }
    if (e instanceof SyntaxError) return this.unavailable(new Error(`malformed ${endpoint} response: ${e.message}`), e);
    return this.translate(e, signal, callerSignal);
  }

  /** A failure while reading a stream: the model's own error line, a malformed line, a stream cut before "done", or the transport. */
  private streamFailure(e: unknown, signal: AbortSignal, callerSignal: AbortSignal | undefined): SwitchyardError {
    if (callerSignal?.aborted || signal.aborted || errorCode(e)) return this.translate(e, signal, callerSignal);
    if (e instanceof SyntaxError) return this.unavailable(new Error(`malformed line in the response stream: ${e.message}`), e);
    const message = e instanceof Error ? e.message : String(e);
    if (/Did not receive done/i.test(message)) return this.unavailable(new Error('the response stream ended before the final "done" message (connection dropped?)'), e);
    return this.unavailable(new Error(`the model failed mid-stream: ${this.explain(message)}`), e);
  }

  /** Adds a hint to Ollama's own error text where we know what the user should do. */
  private explain(serverMessage: string): string {
    if (/not found/i.test(serverMessage) && /model/i.test(serverMessage)) {
      return `${serverMessage}; install it on the Ollama host with \`ollama pull ${this.model}\``;
    }
    return serverMessage;
  }

  /** Maps a fetch / body-read failure to CANCELLED (caller aborted) or ProviderUnavailableError. */
  private translate(e: unknown, signal: AbortSignal, callerSignal: AbortSignal | undefined, context?: string): SwitchyardError {
    if (e instanceof SwitchyardError) return e;
    if (callerSignal?.aborted) return cancelled(this.label, callerSignal.reason);
    if (signal.aborted) {
      const reason: unknown = signal.reason;
      // Duck-typed: AbortSignal.timeout()'s DOMException may come from another realm (e.g. under Jest).
      if (reason instanceof TimeoutMarker || (reason as { name?: unknown } | undefined)?.name === 'TimeoutError') {
        const ms = reason instanceof TimeoutMarker ? reason.ms : this.timeoutMs;
        return this.unavailable(new Error(`timed out: no response from the server within ${ms} ms`), e);
      }
    }
    const code = errorCode(e);
    let why: string;
    switch (code) {
      case 'ECONNREFUSED':
        why = 'connection refused (is `ollama serve` running and is the URL right?)';
        break;
      case 'ENOTFOUND':
      case 'EAI_AGAIN':
        why = `host not found (${code}); check the URL`;
        break;
      case 'ECONNRESET':
      case 'UND_ERR_SOCKET':
        why = 'the connection was closed by the server';
        break;
      case 'UND_ERR_CONNECT_TIMEOUT':
        why = 'connecting timed out';
        break;
      default:
        why = describe(e);
    }
    return this.unavailable(new Error(context ? `${context}: ${why}` : why), e);
  }

  private unavailable(error: Error, original?: unknown): ProviderUnavailableError {
    if (original !== undefined && error.cause === undefined) {
      Object.defineProperty(error, 'cause', { value: original, configurable: true, writable: true });
    }
    const err = new ProviderUnavailableError(this.label, error);
    err.details.url = this.baseUrl;
    err.details.model = this.model;
    return err;
  }
}

/** Abort reason used by the streaming idle timer (distinguishable from the caller's own abort). */
class TimeoutMarker extends Error {
  constructor(readonly ms: number) {
    super(`timed out after ${ms} ms`);
    this.name = 'TimeoutError';
  }
}

function cancelled(provider: string, reason: unknown): SwitchyardError {
  return new SwitchyardError('CANCELLED', `${provider}: the request was cancelled`, { provider }, { cause: reason });
}

function throwIfCancelled(signal: AbortSignal | undefined, provider: string): void {
  if (signal?.aborted) throw cancelled(provider, signal.reason);
}

/** Ollama names without a tag mean `:latest`. */
function sameModel(a: string, b: string): boolean {
  // The tag is after the last '/', so a registry host:port prefix is not mistaken for one.
  const norm = (s: string) => (s.slice(s.lastIndexOf('/') + 1).includes(':') ? s : `${s}:latest`);
  return a === b || norm(a) === norm(b);
}

function errorCode(e: unknown): string | undefined {
  for (let cur: unknown = e, depth = 0; cur && depth < 5; depth++) {
    const code = (cur as { code?: unknown }).code;
    if (typeof code === 'string') return code;
    const errors = (cur as { errors?: unknown }).errors; // AggregateError (e.g. IPv4 + IPv6 both refused)
    if (Array.isArray(errors) && errors.length) {
      const inner = errorCode(errors[0]);
      if (inner) return inner;
    }
    cur = (cur as { cause?: unknown }).cause;
  }
  return undefined;
}

function describe(e: unknown): string {
  const parts: string[] = [];
  for (let cur: unknown = e, depth = 0; cur && depth < 4; depth++) {
    const msg = typeof (cur as { message?: unknown }).message === 'string' ? (cur as { message: string }).message : String(cur);
    if (msg && !parts.includes(msg)) parts.push(msg);
    cur = (cur as { cause?: unknown }).cause;
  }
  return parts.join(': ') || 'unknown error';
}

function truncate(s: string, max: number): string {
  return s.length > max ? `${s.slice(0, max)}…` : s;
}

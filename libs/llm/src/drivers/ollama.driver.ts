import { BadInputError, ProviderUnavailableError, SwitchyardError } from '@switchyard/core';
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

/** One object of Ollama's /api/generate or /api/chat response (a whole body, or one NDJSON line when streaming). */
interface OllamaResponseObject {
  model?: string;
  response?: string;
  message?: { role?: string; content?: string };
  done?: boolean;
  done_reason?: string;
  error?: string;
}

type Endpoint = '/api/generate' | '/api/chat';

/**
 * LLM driver for Ollama's native REST API (https://docs.ollama.com/api), using Node's global fetch.
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
    const body = {
      model: this.model,
      prompt,
      ...(options.system ? { system: options.system } : {}),
      stream: false,
      ...this.commonFields(options),
    };
    const result = await this.requestJson('/api/generate', body, options.signal);
    if (typeof result.response !== 'string') {
      throw this.unavailable(new Error('unexpected /api/generate response: no "response" text'));
    }
    return result.response;
  }

  async chat(messages: ChatMessage[], options: GenerateOptions = {}): Promise<string> {
    const body = {
      model: this.model,
      messages: this.chatMessages(messages, options),
      stream: false,
      ...this.commonFields(options),
    };
    const result = await this.requestJson('/api/chat', body, options.signal);
    if (typeof result.message?.content !== 'string') {
      throw this.unavailable(new Error('unexpected /api/chat response: no "message.content" text'));
    }
    return result.message.content;
  }

  async *chatStream(messages: ChatMessage[], options: GenerateOptions = {}): AsyncGenerator<string, void, undefined> {
    const body = {
      model: this.model,
      messages: this.chatMessages(messages, options),
      stream: true,
      ...this.commonFields(options),
    };
    const callerSignal = options.signal;
    throwIfCancelled(callerSignal, this.label);

    // Idle timeout: re-armed whenever bytes arrive, so only a silent server times out.
    const idle = new AbortController();
    let timer: NodeJS.Timeout | undefined;
    const arm = () => {
      if (timer) clearTimeout(timer);
      timer = setTimeout(() => idle.abort(new TimeoutMarker(this.timeoutMs)), this.timeoutMs);
    };
    const signal = callerSignal ? AbortSignal.any([callerSignal, idle.signal]) : idle.signal;

    let reader: ReadableStreamDefaultReader<Uint8Array> | undefined;
    try {
      arm();
      const res = await this.send('/api/chat', body, signal, callerSignal);
      if (!res.ok) throw await this.httpError(res);
      if (!res.body) throw this.unavailable(new Error('the streaming response has no body'));
      reader = res.body.getReader();
      const decoder = new TextDecoder('utf-8');
      let buffered = '';

      const handleLine = (line: string): { text?: string; done: boolean } => {
        const trimmed = line.trim();
        if (!trimmed) return { done: false };
        let obj: OllamaResponseObject;
        try {
          obj = JSON.parse(trimmed) as OllamaResponseObject;
        } catch {
          throw this.unavailable(new Error(`malformed line in the response stream: ${truncate(trimmed, 200)}`));
        }
        if (obj.error !== undefined) {
          throw this.unavailable(new Error(`the model failed mid-stream: ${this.explain(String(obj.error))}`));
        }
        const text = obj.message?.content ?? obj.response;
        return { text: typeof text === 'string' && text.length > 0 ? text : undefined, done: obj.done === true };
      };

      for (;;) {
        arm();
        let chunk: Awaited<ReturnType<typeof reader.read>>;
        try {
          chunk = await reader.read();
        } catch (e) {
          throw this.translate(e, signal, callerSignal);
        }
        if (chunk.done) {
          buffered += decoder.decode();
        } else {
          buffered += decoder.decode(chunk.value, { stream: true });
        }
        // Process every complete line; keep the (possibly partial) remainder for the next read.
        let nl: number;
        while ((nl = buffered.indexOf('\n')) >= 0) {
          const line = buffered.slice(0, nl);
          buffered = buffered.slice(nl + 1);
          const { text, done } = handleLine(line);
          if (text !== undefined) {
            if (timer) clearTimeout(timer); // the consumer's pace is not the server's silence
            yield text;
            throwIfCancelled(callerSignal, this.label);
          }
          if (done) {
            return;
          }
        }
        if (chunk.done) {
          // A last line without a trailing newline.
          const { text, done } = handleLine(buffered);
          buffered = '';
          if (text !== undefined) yield text;
          if (done) {
            return;
          }
          throw this.unavailable(new Error('the response stream ended before the final "done" message (connection dropped?)'));
        }
      }
    } finally {
      if (timer) clearTimeout(timer);
      // Done, or the consumer stopped early, or an error: release the body. Cancelling a stream that is not
      // finished drops the connection, which is how Ollama learns to stop generating.
      if (reader) reader.cancel().catch(() => undefined);
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
    const timeout = AbortSignal.timeout(this.timeoutMs);
    const combined = signal ? AbortSignal.any([signal, timeout]) : timeout;
    let res: Response;
    try {
      res = await fetch(`${this.baseUrl}/api/tags`, { method: 'GET', signal: combined });
    } catch (e) {
      throw this.translate(e, combined, signal);
    }
    if (!res.ok) throw await this.httpError(res);
    let parsed: { models?: Array<{ name?: string; model?: string }> };
    try {
      parsed = (await res.json()) as typeof parsed;
    } catch (e) {
      throw this.translate(e, combined, signal, 'malformed /api/tags response');
    }
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

  /** POST, non-streaming: whole request bounded by timeoutMs. */
  private async requestJson(path: Endpoint, body: unknown, callerSignal?: AbortSignal): Promise<OllamaResponseObject> {
    throwIfCancelled(callerSignal, this.label);
    const timeout = AbortSignal.timeout(this.timeoutMs);
    const signal = callerSignal ? AbortSignal.any([callerSignal, timeout]) : timeout;
    const res = await this.send(path, body, signal, callerSignal);
    if (!res.ok) throw await this.httpError(res);
    let parsed: OllamaResponseObject;
    try {
      parsed = (await res.json()) as OllamaResponseObject;
    } catch (e) {
      throw this.translate(e, signal, callerSignal, `malformed ${path} response`);
    }
    if (parsed && typeof parsed === 'object' && parsed.error !== undefined) {
      throw this.unavailable(new Error(this.explain(String(parsed.error))));
    }
    return parsed;
  }

  private async send(path: Endpoint, body: unknown, signal: AbortSignal, callerSignal?: AbortSignal): Promise<Response> {
    try {
      return await fetch(`${this.baseUrl}${path}`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', accept: 'application/x-ndjson, application/json' },
        body: JSON.stringify(body),
        signal,
      });
    } catch (e) {
      throw this.translate(e, signal, callerSignal);
    }
  }

  /** Turns an HTTP error status (+ Ollama's `{"error": "..."}` body) into a ProviderUnavailableError. */
  private async httpError(res: Response): Promise<SwitchyardError> {
    let text = '';
    try {
      text = await res.text();
    } catch {
      /* body unreadable: report the status alone */
    }
    let serverMessage = text.trim();
    try {
      const parsed = JSON.parse(text) as { error?: unknown };
      if (parsed && typeof parsed.error === 'string') serverMessage = parsed.error;
    } catch {
      /* not JSON */
    }
    const status = `HTTP ${res.status}${res.statusText ? ` ${res.statusText}` : ''}`;
    const detail = serverMessage ? `${status}: ${this.explain(truncate(serverMessage, 500))}` : status;
    const err = this.unavailable(new Error(detail));
    err.details.status = res.status;
    return err;
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

import { BadInputError, ProviderUnavailableError, SwitchyardError } from '@switchyard/core';
import { runLlmContract } from '../llm.contract';
import { FakeOllama, startFakeOllama } from '../testing/fake-ollama.server';
import { OllamaLlm, OllamaOptions } from './ollama.driver';

runLlmContract('ollama', async () => {
  const server = await startFakeOllama({ models: ['llama3.2:latest'] });
  const llm = new OllamaLlm({ url: server.url, model: 'llama3.2', timeoutMs: 5000 });
  return { llm, server };
});

async function collect(stream: AsyncIterable<string>): Promise<string[]> {
  const out: string[] = [];
  for await (const chunk of stream) out.push(chunk);
  return out;
}

/** Resolves to the error a promise rejects with (fails the test if it resolves). */
async function failure(p: Promise<unknown>): Promise<SwitchyardError> {
  try {
    await p;
  } catch (e) {
    return e as SwitchyardError;
  }
  throw new Error('expected the call to fail, but it succeeded');
}

describe('OllamaLlm against a fake Ollama server', () => {
  let server: FakeOllama;
  const make = (overrides: Partial<OllamaOptions> = {}) =>
    new OllamaLlm({ url: server.url, model: 'llama3.2', timeoutMs: 5000, ...overrides });

  beforeEach(async () => {
    server = await startFakeOllama({ models: ['llama3.2:latest', 'mistral'] });
  });
  afterEach(async () => {
    await server.close();
  });

  describe('requests follow the Ollama API', () => {
    it('generate(): POST /api/generate with prompt, system, stream:false, options and keep_alive', async () => {
      const llm = make({ keepAlive: '10m' });
      await llm.generate('What is RAG?', { system: 'Answer in one line.', temperature: 0.2, maxTokens: 64 });
      const req = server.requests.find((r) => r.path === '/api/generate')!;
      expect(req.method).toBe('POST');
      expect(req.headers['content-type']).toBe('application/json');
      expect(req.body).toEqual({
        model: 'llama3.2',
        prompt: 'What is RAG?',
        system: 'Answer in one line.',
        stream: false,
        options: { temperature: 0.2, num_predict: 64 },
        keep_alive: '10m',
      });
    });

    it('omits options, system and keep_alive when not given; temperature 0 is still sent', async () => {
      const llm = make();
      await llm.generate('plain');
      expect(server.lastCall().body).toEqual({ model: 'llama3.2', prompt: 'plain', stream: false });
      await llm.generate('cold', { temperature: 0 });
      expect(server.lastCall().body.options).toEqual({ temperature: 0 });
    });

    it('chat(): POST /api/chat with the messages, the system prompt as a leading system message, stream:false', async () => {
      const llm = make();
      server.setReply(() => 'ok');
      await llm.chat(
        [
          { role: 'user', content: 'q1' },
          { role: 'assistant', content: 'a1' },
          { role: 'user', content: 'q2' },
        ],
        { system: 'sys', temperature: 0.7, maxTokens: 10 },
      );
      const call = server.lastCall();
      expect(call.endpoint).toBe('chat');
      expect(call.body).toEqual({
        model: 'llama3.2',
        messages: [
          { role: 'system', content: 'sys' },
          { role: 'user', content: 'q1' },
          { role: 'assistant', content: 'a1' },
          { role: 'user', content: 'q2' },
        ],
        stream: false,
        options: { temperature: 0.7, num_predict: 10 },
      });
    });

    it('chatStream(): POST /api/chat with stream:true and the same options', async () => {
      const llm = make({ keepAlive: '-1' });
      await collect(llm.chatStream([{ role: 'user', content: 'go' }], { temperature: 1, maxTokens: 5 }));
      expect(server.lastCall().body).toEqual({
        model: 'llama3.2',
        messages: [{ role: 'user', content: 'go' }],
        stream: true,
        options: { temperature: 1, num_predict: 5 },
        keep_alive: '-1',
      });
    });

    it('a trailing slash on the URL is ignored', async () => {
      const llm = new OllamaLlm({ url: `${server.url}/`, model: 'llama3.2', timeoutMs: 5000 });
      await llm.generate('x');
      expect(server.requests.map((r) => r.path)).toEqual(['/api/generate']);
    });

    it('rejects invalid input before calling the server', async () => {
      const llm = make();
      await expect(llm.generate('  ')).rejects.toBeInstanceOf(BadInputError);
      await expect(llm.chat([])).rejects.toBeInstanceOf(BadInputError);
      await expect(collect(llm.chatStream([]))).rejects.toBeInstanceOf(BadInputError);
      await expect(llm.generate('x', { maxTokens: 0 })).rejects.toBeInstanceOf(BadInputError);
      await expect(llm.generate('x', { temperature: Number.NaN })).rejects.toBeInstanceOf(BadInputError);
      expect(server.requests).toHaveLength(0);
      expect(() => new OllamaLlm({ url: 'not a url', model: 'm', timeoutMs: 1 })).toThrow(BadInputError);
      expect(() => new OllamaLlm({ url: 'http://x', model: ' ', timeoutMs: 1 })).toThrow(BadInputError);
      expect(() => new OllamaLlm({ url: 'http://x', model: 'm', timeoutMs: 0 })).toThrow(BadInputError);
    });
  });

  describe('streaming', () => {
    it('reassembles NDJSON lines split across writes (including inside multi-byte characters)', async () => {
      const pieces = ['Hel', 'lo, ', 'wörld ', '👋🏽', ' — ', '日本', '語!'];
      server.setReply(() => ({ chunks: pieces }));
      const got = await collect(make().chatStream([{ role: 'user', content: 'hi' }]));
      expect(got).toEqual(pieces);
    });

    it('surfaces an {"error": ...} line mid-stream as ProviderUnavailableError, after the chunks before it', async () => {
      server.setReply(() => ({ chunks: ['a ', 'b ', 'c ', 'd'], midStreamError: 'an error was encountered while running the model', errorAfterChunks: 2 }));
      const got: string[] = [];
      const err = await failure(
        (async () => {
          for await (const c of make().chatStream([{ role: 'user', content: 'x' }])) got.push(c);
        })(),
      );
      expect(got).toEqual(['a ', 'b ']);
      expect(err).toBeInstanceOf(ProviderUnavailableError);
      expect(err.message).toContain('an error was encountered while running the model');
      expect(err.message).toContain(`ollama at ${server.url}`);
    });

    it('fails when the connection drops before the final done message', async () => {
      server.setReply(() => ({ chunks: ['a ', 'b ', 'c'], dropAfterChunks: 2 }));
      const err = await failure(collect(make().chatStream([{ role: 'user', content: 'x' }])));
      expect(err).toBeInstanceOf(ProviderUnavailableError);
      expect(err.message).toContain(`ollama at ${server.url}`);
    });

    it('times out when the server goes silent mid-stream', async () => {
      server.setReply(() => ({ chunks: ['a ', 'b ', 'c'], stallAfterChunks: 1 }));
      const started = Date.now();
      const got: string[] = [];
      const err = await failure(
        (async () => {
          for await (const c of make({ timeoutMs: 300 }).chatStream([{ role: 'user', content: 'x' }])) got.push(c);
        })(),
      );
      expect(got).toEqual(['a ']);
      expect(err).toBeInstanceOf(ProviderUnavailableError);
      expect(err.message).toMatch(/timed out/);
      expect(Date.now() - started).toBeLessThan(3000);
    });

    it('does not cut off a slow answer that keeps flowing (the stream timeout is an idle timeout)', async () => {
      await server.close();
      server = await startFakeOllama({ models: ['llama3.2'], chunkDelayMs: 80 });
      const words = 'one two three four five six seven eight';
      server.setReply(() => words);
      const started = Date.now();
      const got = await collect(make({ timeoutMs: 400 }).chatStream([{ role: 'user', content: 'x' }]));
      expect(got.join('')).toBe(words);
      expect(Date.now() - started).toBeGreaterThan(400); // longer than timeoutMs in total
    });

    it("aborting the caller's signal mid-stream stops the stream with CANCELLED", async () => {
      server.setReply(() => ({ chunks: ['a ', 'b ', 'c'], stallAfterChunks: 2 }));
      const ac = new AbortController();
      const got: string[] = [];
      const started = Date.now();
      const err = await failure(
        (async () => {
          for await (const c of make({ timeoutMs: 60_000 }).chatStream([{ role: 'user', content: 'x' }], { signal: ac.signal })) {
            got.push(c);
            if (got.length === 1) setTimeout(() => ac.abort(), 50);
          }
        })(),
      );
      expect(got.length).toBeGreaterThanOrEqual(1);
      expect(err).toBeInstanceOf(SwitchyardError);
      expect(err.code).toBe('CANCELLED');
      expect(Date.now() - started).toBeLessThan(3000);
    });
  });

  describe('errors', () => {
    it('unknown model: ProviderUnavailableError that tells the user to ollama pull it', async () => {
      const llm = make({ model: 'nope' });
      for (const call of [
        () => llm.generate('x'),
        () => llm.chat([{ role: 'user', content: 'x' }]),
        () => collect(llm.chatStream([{ role: 'user', content: 'x' }])),
      ]) {
        const err = await failure(call());
        expect(err).toBeInstanceOf(ProviderUnavailableError);
        expect(err.message).toContain(`ollama at ${server.url}`);
        expect(err.message).toContain('model "nope" not found');
        expect(err.message).toContain('ollama pull nope');
        expect(err.details).toMatchObject({ status: 404, model: 'nope', url: server.url });
      }
    });

    it('server down (closed port): ProviderUnavailableError naming ollama and the URL', async () => {
      const url = server.url;
      await server.close();
      const llm = new OllamaLlm({ url, model: 'llama3.2', timeoutMs: 5000 });
      const err = await failure(llm.generate('x'));
      expect(err).toBeInstanceOf(ProviderUnavailableError);
      expect(err.code).toBe('PROVIDER_UNAVAILABLE');
      expect(err.message).toContain(`ollama at ${url}`);
      expect(err.message).toMatch(/connection refused/);
      expect(err.details).toMatchObject({ provider: `ollama at ${url}` });
      await expect(llm.ping()).resolves.toBe(false);
    });

    it('HTTP 500 with {"error"}: ProviderUnavailableError carrying the server message', async () => {
      server.setReply(() => ({ status: 500, error: 'llama runner process has terminated' }));
      const err = await failure(make().chat([{ role: 'user', content: 'x' }]));
      expect(err).toBeInstanceOf(ProviderUnavailableError);
      expect(err.message).toContain('HTTP 500');
      expect(err.message).toContain('llama runner process has terminated');
    });

    it('a non-streaming request that hangs times out after timeoutMs', async () => {
      server.setReply(() => ({ hang: true }));
      const started = Date.now();
      const err = await failure(make({ timeoutMs: 250 }).generate('x'));
      expect(err).toBeInstanceOf(ProviderUnavailableError);
      expect(err.message).toMatch(/timed out/);
      expect(err.message).toContain(`ollama at ${server.url}`);
      expect(Date.now() - started).toBeLessThan(3000);
    });

    it('a stream whose headers never come times out too', async () => {
      server.setReply(() => ({ hang: true }));
      const err = await failure(collect(make({ timeoutMs: 250 }).chatStream([{ role: 'user', content: 'x' }])));
      expect(err).toBeInstanceOf(ProviderUnavailableError);
      expect(err.message).toMatch(/timed out/);
    });

    it("aborting the caller's signal during a hanging request rejects with CANCELLED, not a timeout", async () => {
      server.setReply(() => ({ hang: true }));
      const ac = new AbortController();
      setTimeout(() => ac.abort(), 50);
      const err = await failure(make({ timeoutMs: 60_000 }).chat([{ role: 'user', content: 'x' }], { signal: ac.signal }));
      expect(err.code).toBe('CANCELLED');
    });

    it('connection reset by the server: ProviderUnavailableError', async () => {
      server.setOutage('reset');
      const err = await failure(make().generate('x'));
      expect(err).toBeInstanceOf(ProviderUnavailableError);
      expect(err.message).toContain(`ollama at ${server.url}`);
    });
  });

  describe('ping()', () => {
    it('matches the model with and without :latest', async () => {
      await expect(make({ model: 'llama3.2' }).ping()).resolves.toBe(true);
      await expect(make({ model: 'llama3.2:latest' }).ping()).resolves.toBe(true);
      await expect(make({ model: 'mistral' }).ping()).resolves.toBe(true); // listed as mistral:latest
      await expect(make({ model: 'mistral:latest' }).ping()).resolves.toBe(true);
      expect(server.requests.every((r) => r.method === 'GET' && r.path === '/api/tags')).toBe(true);
    });

    it('is false when the model is not installed (another tag of it does not count)', async () => {
      await expect(make({ model: 'llama3.2:70b' }).ping()).resolves.toBe(false);
      await expect(make({ model: 'qwen2.5' }).ping()).resolves.toBe(false);
    });

    it('is false when the server errors or hangs', async () => {
      server.setOutage({ status: 500, error: 'boom' });
      await expect(make().ping()).resolves.toBe(false);
      server.setOutage('hang');
      await expect(make({ timeoutMs: 200 }).ping()).resolves.toBe(false);
    });

    it('listModels() reports what /api/tags lists', async () => {
      await expect(make().listModels()).resolves.toEqual(expect.arrayContaining(['llama3.2:latest', 'mistral:latest']));
    });
  });
});

import { ProviderUnavailableError, SwitchyardError } from '@switchyard/core';
import { Llm } from './llm.port';

/**
 * The backend a driver under contract talks to (for Ollama: the fake Ollama server). The contract only needs
 * to choose the answer and to take the backend down.
 */
export interface LlmContractServer {
  /** Makes the backend answer every request with fn(request). `prompt` is the (last) user text, `system` the system prompt. */
  setReply(fn: (request: { prompt: string; system?: string }) => string): void;
  /** Takes the backend down (the driver must then fail with ProviderUnavailableError). */
  close(): Promise<void>;
}

export interface LlmContractSubject {
  llm: Llm;
  server: LlmContractServer;
}

/**
 * Behaviour every Llm driver must have. Call it at the top level of a spec file:
 *
 *   runLlmContract('ollama', async () => { const server = await startFakeOllama(); return { llm: new OllamaLlm(...), server }; });
 *
 * `make` is called before each test and must return a fresh, working driver whose backend knows the model.
 */
export function runLlmContract(name: string, make: () => Promise<LlmContractSubject>): void {
  describe(`Llm contract: ${name}`, () => {
    let llm: Llm;
    let server: LlmContractServer;

    beforeEach(async () => {
      ({ llm, server } = await make());
    });
    afterEach(async () => {
      await server?.close();
    });

    const collect = async (stream: AsyncIterable<string>): Promise<string[]> => {
      const out: string[] = [];
      for await (const chunk of stream) out.push(chunk);
      return out;
    };

    it('names its provider and model', () => {
      expect(typeof llm.provider).toBe('string');
      expect(llm.provider.length).toBeGreaterThan(0);
      expect(typeof llm.model).toBe('string');
      expect(llm.model.length).toBeGreaterThan(0);
    });

    it('ping() is true when the server is up and has the model', async () => {
      await expect(llm.ping()).resolves.toBe(true);
    });

    it('generate() sends the prompt and returns the whole answer', async () => {
      server.setReply((r) => `The answer about ${r.prompt}.`);
      await expect(llm.generate('the moon')).resolves.toBe('The answer about the moon.');
    });

    it('generate() sends the system prompt', async () => {
      server.setReply((r) => `system=${r.system ?? '(none)'}`);
      await expect(llm.generate('hi', { system: 'Be brief.' })).resolves.toBe('system=Be brief.');
    });

    it('chat() answers the conversation (last user message) and sends the system prompt', async () => {
      server.setReply((r) => `[${r.system ?? '-'}] you said: ${r.prompt}`);
      const answer = await llm.chat(
        [
          { role: 'user', content: 'first question' },
          { role: 'assistant', content: 'first answer' },
          { role: 'user', content: 'second question' },
        ],
        { system: 'You are terse.' },
      );
      expect(answer).toBe('[You are terse.] you said: second question');
    });

    it('chatStream() yields several chunks that concatenate to the full answer', async () => {
      const full = 'Rivers carry sediment downstream and deposit it where the current slows.';
      server.setReply(() => full);
      const chunks = await collect(llm.chatStream([{ role: 'user', content: 'rivers?' }]));
      expect(chunks.length).toBeGreaterThan(1);
      expect(chunks.every((c) => typeof c === 'string' && c.length > 0)).toBe(true);
      expect(chunks.join('')).toBe(full);
    });

    it('keeps non-ASCII text intact, streamed or not', async () => {
      const full = 'Grüße aus Köln 👋 — 日本語のテキスト ✓';
      server.setReply(() => full);
      await expect(llm.chat([{ role: 'user', content: 'say hi' }])).resolves.toBe(full);
      expect((await collect(llm.chatStream([{ role: 'user', content: 'say hi' }]))).join('')).toBe(full);
    });

    it('chatStream() can be abandoned early, and the driver keeps working', async () => {
      server.setReply(() => 'one two three four five six seven eight nine ten');
      const got: string[] = [];
      for await (const chunk of llm.chatStream([{ role: 'user', content: 'count' }])) {
        got.push(chunk);
        if (got.length === 2) break;
      }
      expect(got).toHaveLength(2);
      server.setReply(() => 'still fine');
      await expect(llm.generate('again')).resolves.toBe('still fine');
    });

    it('an already-aborted signal rejects with CANCELLED', async () => {
      const ac = new AbortController();
      ac.abort();
      await expect(llm.generate('x', { signal: ac.signal })).rejects.toMatchObject({ code: 'CANCELLED' });
      await expect(llm.chat([{ role: 'user', content: 'x' }], { signal: ac.signal })).rejects.toMatchObject({ code: 'CANCELLED' });
      await expect(collect(llm.chatStream([{ role: 'user', content: 'x' }], { signal: ac.signal }))).rejects.toMatchObject({
        code: 'CANCELLED',
      });
    });

    it('when the server is down: ProviderUnavailableError naming the provider, and ping() is false', async () => {
      await server.close();
      const check = (e: unknown) => {
        expect(e).toBeInstanceOf(ProviderUnavailableError);
        expect(e).toBeInstanceOf(SwitchyardError);
        expect((e as SwitchyardError).code).toBe('PROVIDER_UNAVAILABLE');
        expect((e as Error).message).toContain(llm.provider);
      };
      await llm.generate('x').then(
        () => {
          throw new Error('generate() should have failed');
        },
        check,
      );
      await llm.chat([{ role: 'user', content: 'x' }]).then(
        () => {
          throw new Error('chat() should have failed');
        },
        check,
      );
      await collect(llm.chatStream([{ role: 'user', content: 'x' }])).then(
        () => {
          throw new Error('chatStream() should have failed');
        },
        check,
      );
      await expect(llm.ping()).resolves.toBe(false);
    });
  });
}

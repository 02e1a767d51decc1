import * as http from 'node:http';
import { FakeOllama, splitAnswer, startFakeOllama } from './fake-ollama.server';

/** Raw HTTP request that records every 'data' event separately (to see how the bytes were cut). */
function rawPost(url: string, path: string, body: unknown): Promise<{ status: number; pieces: Buffer[]; headers: http.IncomingHttpHeaders }> {
  return new Promise((resolve, reject) => {
    const req = http.request(`${url}${path}`, { method: 'POST', headers: { 'content-type': 'application/json' } }, (res) => {
      const pieces: Buffer[] = [];
      res.on('data', (c: Buffer) => pieces.push(c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, pieces, headers: res.headers }));
      res.on('error', reject);
    });
    req.on('error', reject);
    req.end(JSON.stringify(body));
  });
}

describe('fake Ollama server', () => {
  let server: FakeOllama;
  beforeEach(async () => {
    server = await startFakeOllama({ models: ['llama3.2:latest', 'mistral'], chunkDelayMs: 5 });
  });
  afterEach(() => server.close());

  it('lists models on /api/tags in Ollama shape', async () => {
    const res = await fetch(`${server.url}/api/tags`);
    expect(res.status).toBe(200);
    const body = (await res.json()) as { models: Array<{ name: string; model: string; details: object }> };
    expect(body.models.map((m) => m.name)).toEqual(['llama3.2:latest', 'mistral:latest']);
    expect(body.models[0]).toMatchObject({ model: 'llama3.2:latest', details: { format: 'gguf' } });
  });

  it('streams NDJSON (default stream=true) in writes that cut lines in two, ending with done:true', async () => {
    server.setReply(() => 'alpha beta gamma delta');
    const res = await rawPost(server.url, '/api/chat', { model: 'llama3.2', messages: [{ role: 'user', content: 'hi' }] });
    expect(res.status).toBe(200);
    expect(res.headers['content-type']).toBe('application/x-ndjson');
    expect(res.pieces.length).toBeGreaterThan(2);
    expect(res.pieces.some((p) => !p.toString('utf8').endsWith('\n'))).toBe(true);
    const lines = Buffer.concat(res.pieces).toString('utf8').trim().split('\n').map((l) => JSON.parse(l));
    expect(lines.slice(0, -1).map((l) => l.message.content).join('')).toBe('alpha beta gamma delta');
    expect(lines.slice(0, -1).every((l) => l.done === false && l.message.role === 'assistant')).toBe(true);
    expect(lines[lines.length - 1]).toMatchObject({ done: true, done_reason: 'stop', message: { content: '' } });
    expect(lines[lines.length - 1].eval_count).toBeGreaterThan(0);
  });

  it('answers /api/generate non-streaming with one object and records the call', async () => {
    const res = await fetch(`${server.url}/api/generate`, {
      method: 'POST',
      body: JSON.stringify({ model: 'mistral:latest', prompt: 'why?', system: 'sys', stream: false, options: { temperature: 0 } }),
    });
    expect(res.status).toBe(200);
    expect(await res.json()).toMatchObject({ model: 'mistral:latest', response: 'fake answer to: why?', done: true });
    expect(server.lastCall()).toMatchObject({ endpoint: 'generate', prompt: 'why?', system: 'sys', options: { temperature: 0 }, stream: false });
    expect(server.requests[0]).toMatchObject({ method: 'POST', path: '/api/generate' });
  });

  it('returns 404 {"error"} for an unknown model', async () => {
    const res = await fetch(`${server.url}/api/chat`, { method: 'POST', body: JSON.stringify({ model: 'x', messages: [], stream: false }) });
    expect(res.status).toBe(404);
    expect(await res.json()).toEqual({ error: 'model "x" not found, try pulling it first' });
  });

  it('sends a mid-stream {"error"} line as the last line', async () => {
    server.setReply(() => ({ chunks: ['a', 'b', 'c'], midStreamError: 'boom', errorAfterChunks: 1 }));
    const res = await rawPost(server.url, '/api/generate', { model: 'llama3.2', prompt: 'p' });
    const lines = Buffer.concat(res.pieces).toString('utf8').trim().split('\n').map((l) => JSON.parse(l));
    expect(lines).toEqual([expect.objectContaining({ response: 'a', done: false }), { error: 'boom' }]);
  });

  it('close() also ends hanging requests, and reset() restores the defaults', async () => {
    server.setReply(() => ({ hang: true }));
    const pending = fetch(`${server.url}/api/generate`, { method: 'POST', body: JSON.stringify({ model: 'llama3.2', prompt: 'p', stream: false }) });
    await new Promise((r) => setTimeout(r, 50));
    server.reset();
    expect(server.requests).toHaveLength(0);
    await server.close();
    await expect(pending).rejects.toThrow();
  });

  it('splitAnswer keeps the text and yields several pieces', () => {
    expect(splitAnswer('a b  c').join('')).toBe('a b  c');
    expect(splitAnswer('a b c').length).toBe(3);
    expect(splitAnswer('word')).toEqual(['wo', 'rd']);
    expect(splitAnswer('👋👋')).toEqual(['👋', '👋']);
  });
});

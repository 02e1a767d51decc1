import { createChunker } from './chunking';

describe('chunking', () => {
  it('never cuts a character above U+FFFF in two (no lone surrogate in any chunk), and keeps every character', async () => {
    const chunk = createChunker({ chunkSize: 9, chunkOverlap: 0 });
    const text = '🚀'.repeat(20) + '𝄞'.repeat(7);
    const chunks = await chunk(text);
    expect(chunks.length).toBeGreaterThan(3);
    expect(chunks.filter((c) => /\p{Cs}/u.test(c))).toEqual([]);
    expect(chunks.join('')).toBe(text);
  });

  it('still splits on paragraphs, lines and words first', async () => {
    const chunk = createChunker({ chunkSize: 40, chunkOverlap: 0 });
    expect(await chunk('first paragraph here\n\nsecond paragraph here')).toEqual(['first paragraph here', 'second paragraph here']);
  });
});

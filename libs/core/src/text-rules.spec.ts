import { jsonProblem, textProblem, userIdProblem } from './text-rules';

describe('text rules (every provider, the API and the imports)', () => {
  it('refuses NUL and lone surrogates, keeps well-formed pairs, and bounds the length', () => {
    expect(textProblem('plain text, ünïcödé, 🚀')).toBeNull();
    expect(textProblem('a\u0000b')).toMatch(/NUL/);
    expect(textProblem('high \ud83d alone')).toMatch(/lone surrogate/);
    expect(textProblem('low \ude80 alone')).toMatch(/lone surrogate/);
    expect(textProblem('swapped \ude80\ud83d')).toMatch(/lone surrogate/);
    expect(textProblem('x'.repeat(11), 10)).toMatch(/11 characters; at most 10/);
  });

  it('finds the first bad key or string in a JSON value, with its path', () => {
    expect(jsonProblem({ a: 1, b: ['x', { c: 'fine' }] })).toBeNull();
    expect(jsonProblem({ a: { b: ['ok', 'bad\u0000'] } })).toEqual(['a.b[1]', expect.stringMatching(/NUL/)]);
    expect(jsonProblem({ 'k\ud800': 1 })).toEqual(['k\ud800', expect.stringMatching(/^key .*lone surrogate/)]);
  });

  it('a user id is 1 to 255 characters of valid text', () => {
    expect(userIdProblem('user-1')).toBeNull();
    expect(userIdProblem('')).toMatch(/non-empty/);
    expect(userIdProblem(42)).toMatch(/non-empty string/);
    expect(userIdProblem('x'.repeat(256))).toMatch(/256 characters; at most 255/);
    expect(userIdProblem('a\u0000')).toMatch(/NUL/);
  });
});

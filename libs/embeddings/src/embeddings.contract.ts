/**
 * Shared Jest assertions every Embeddings driver must pass. Call from a driver's *.spec.ts:
 *
 *   runEmbeddingsContract('xenova (test model)', async () => new XenovaEmbeddings({...}), {
 *     makeMissingModel: async () => new XenovaEmbeddings({ modelPath: '/nope', ... }),
 *   });
 *
 * `make` must return a fresh, not yet initialised instance each call; the contract calls init()/close() itself.
 * Only imported from tests (uses Jest globals).
 */
import { SwitchyardError } from '@switchyard/core';
import { Embeddings } from './embeddings.port';

export interface EmbeddingsContractOptions {
  /** A driver configured with a model that does not exist; init() must fail with MODEL_LOAD_FAILED. */
  makeMissingModel?: () => Promise<Embeddings>;
  /** Expected `dimensions`, when known. */
  expectedDimensions?: number;
  /** Expected `model` identifier, when known. */
  expectedModel?: string;
  /** Override the paraphrase pairs used for the retrieval check. */
  paraphrasePairs?: ReadonlyArray<readonly [string, string]>;
}

/**
 * Paraphrase pairs with (almost) no content words in common: a model only retrieves the partner if it maps
 * synonyms close together. The offline test model (scripts/generate-test-model.js) has these synonym groups.
 */
export const PARAPHRASE_PAIRS: ReadonlyArray<readonly [string, string]> = [
  ['I want to buy a fast car.', 'I wish to purchase a quick automobile.'],
  ['The little puppy is very happy.', 'The small dog is glad.'],
  ['The doctor is treating a sick patient.', 'A physician cares for an ill patient.'],
  ['Our database stores a huge amount of data.', 'The datastore holds a large amount of data.'],
  ['Please help me fix this error.', 'Can you assist me to repair this bug?'],
  ['We enjoyed a beautiful movie.', 'We liked a lovely film.'],
  ['The kids started the journey to the city.', 'The children began the trip to the town.'],
  ['Delete the old file from the server.', 'Remove the previous document from the host.'],
];

const dot = (a: Float32Array, b: Float32Array): number => {
  let s = 0;
  for (let i = 0; i < a.length; i++) s += a[i] * b[i];
  return s;
};
const norm = (a: Float32Array): number => Math.sqrt(dot(a, a));
const maxAbsDiff = (a: Float32Array, b: Float32Array): number => {
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i] - b[i]));
  return m;
};
const allFinite = (a: Float32Array): boolean => a.every((x) => Number.isFinite(x));

export function runEmbeddingsContract(
  name: string,
  make: () => Promise<Embeddings>,
  options: EmbeddingsContractOptions = {},
): void {
  describe(`Embeddings contract: ${name}`, () => {
    let e: Embeddings;

    beforeAll(async () => {
      e = await make();
      await e.init();
    });

    afterAll(async () => {
      await e?.close();
    });

    const expectVector = (v: Float32Array) => {
      expect(v).toBeInstanceOf(Float32Array);
      expect(v.length).toBe(e.dimensions);
      expect(allFinite(v)).toBe(true);
      expect(Math.abs(norm(v) - 1)).toBeLessThan(1e-4);
    };

    it('has a provider, a model id and a positive, stable dimension', async () => {
      expect(typeof e.provider).toBe('string');
      expect(e.provider.length).toBeGreaterThan(0);
      expect(typeof e.model).toBe('string');
      expect(e.model.length).toBeGreaterThan(0);
      if (options.expectedModel) expect(e.model).toBe(options.expectedModel);
      const d = e.dimensions;
      expect(Number.isInteger(d)).toBe(true);
      expect(d).toBeGreaterThan(0);
      if (options.expectedDimensions) expect(d).toBe(options.expectedDimensions);
      await e.init(); // idempotent
      const [v] = await e.embed(['hello world']);
      expect(v.length).toBe(d);
      expect(e.dimensions).toBe(d);
    });

    it('returns [] for no texts', async () => {
      await expect(e.embed([])).resolves.toEqual([]);
    });

    it('returns L2-normalised, finite Float32Arrays', async () => {
      const vs = await e.embed(['The quick brown fox.', 'Databases store data.', 'x']);
      expect(vs).toHaveLength(3);
      vs.forEach(expectVector);
    });

    it('is deterministic', async () => {
      const [a] = await e.embed(['the same text twice']);
      const [b] = await e.embed(['the same text twice']);
      expect(maxAbsDiff(a, b)).toBeLessThan(1e-6);
    });

    it('gives the same vectors in a batch as one by one (within 1e-5)', async () => {
      const texts = [
        'short',
        'A somewhat longer sentence about cars, dogs and databases.',
        'Another one: the doctor helped a patient at the hospital yesterday evening.',
        '',
        'numbers 12345 and symbols #@!',
      ];
      const batch = await e.embed(texts);
      for (let i = 0; i < texts.length; i++) {
        const [single] = await e.embed([texts[i]]);
        expect(maxAbsDiff(batch[i], single)).toBeLessThan(1e-5);
      }
    });

    it('preserves input order', async () => {
      const texts = ['first: cats', 'second: rockets', 'third: coffee', 'fourth: taxes'];
      const forward = await e.embed(texts);
      const reversed = await e.embed([...texts].reverse());
      for (let i = 0; i < texts.length; i++) {
        expect(maxAbsDiff(forward[i], reversed[texts.length - 1 - i])).toBeLessThan(1e-5);
      }
      expect(maxAbsDiff(forward[0], forward[1])).toBeGreaterThan(1e-3);
    });

    it('handles unicode, emoji, accents, whitespace and the empty string', async () => {
      const texts = ['', '   ', 'Café déjà vu naïve', '日本語のテキスト', 'emoji 🚀🔥👍🏽', 'Ünïcödé\u0000\u200b mixed', '\n\t'];
      const vs = await e.embed(texts);
      expect(vs).toHaveLength(texts.length);
      vs.forEach(expectVector);
    });

    it('truncates very long text instead of failing', async () => {
      const long = Array.from({ length: 20000 }, (_, i) => `word${i % 97} cars dogs`).join(' ');
      const vs = await e.embed([long, 'short text']);
      expect(vs).toHaveLength(2);
      vs.forEach(expectVector);
    });

    it('embeds 1000 texts in one call, in order', async () => {
      const texts = Array.from({ length: 1000 }, (_, i) => `document number ${i} about topic ${i % 13}`);
      const vs = await e.embed(texts);
      expect(vs).toHaveLength(1000);
      vs.forEach(expectVector);
      const spot = [0, 1, 499, 998, 999];
      const singles = await e.embed(spot.map((i) => texts[i]));
      spot.forEach((i, k) => expect(maxAbsDiff(vs[i], singles[k])).toBeLessThan(1e-5));
    });

    it('handles concurrent embed() calls', async () => {
      const texts = ['alpha', 'beta', 'gamma', 'delta'];
      const [sequential, ...concurrent] = await Promise.all([
        e.embed(texts),
        ...texts.map((t) => e.embed([t])),
      ]);
      texts.forEach((_, i) => expect(maxAbsDiff(sequential[i], concurrent[i][0])).toBeLessThan(1e-5));
    });

    it('retrieves each paraphrase as the nearest neighbour of its partner', async () => {
      const pairs = options.paraphrasePairs ?? PARAPHRASE_PAIRS;
      const sentences = pairs.flat();
      const vs = await e.embed(sentences);
      const misses: string[] = [];
      for (let i = 0; i < sentences.length; i++) {
        let best = -1;
        let bestScore = -Infinity;
        for (let j = 0; j < sentences.length; j++) {
          if (j === i) continue;
          const s = dot(vs[i], vs[j]);
          if (s > bestScore) [best, bestScore] = [j, s];
        }
        const partner = i ^ 1;
        if (best !== partner) misses.push(`"${sentences[i]}" -> "${sentences[best]}" (wanted "${sentences[partner]}")`);
      }
      expect(misses).toEqual([]);
    });

    it('initialises lazily, once, when embed() is called before init()', async () => {
      const fresh = await make();
      try {
        const [a, b] = await Promise.all([fresh.embed(['lazy one']), fresh.embed(['lazy two'])]);
        expect(a[0].length).toBe(fresh.dimensions);
        expect(b[0].length).toBe(fresh.dimensions);
        expect(fresh.dimensions).toBe(e.dimensions);
        const [ref] = await e.embed(['lazy one']);
        expect(maxAbsDiff(a[0], ref)).toBeLessThan(1e-5);
      } finally {
        await fresh.close();
      }
    });

    if (options.makeMissingModel) {
      const makeMissing = options.makeMissingModel;
      it('fails init() with a clear MODEL_LOAD_FAILED error for a missing model', async () => {
        const broken = await makeMissing();
        try {
          const err = await broken.init().then(
            () => undefined,
            (x: unknown) => x,
          );
          expect(err).toBeInstanceOf(SwitchyardError);
          expect((err as SwitchyardError).code).toBe('MODEL_LOAD_FAILED');
          expect((err as SwitchyardError).message.length).toBeGreaterThan(20);
          // embed() surfaces the same failure instead of hanging or returning garbage
          await expect(broken.embed(['x'])).rejects.toMatchObject({ code: 'MODEL_LOAD_FAILED' });
        } finally {
          await broken.close();
        }
      });
    }
  });
}

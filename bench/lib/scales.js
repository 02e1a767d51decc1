'use strict';
/**
 * Data sizes per scale. `large` is the size the issue names (1M documents, 100k vectors, 20k chunks,
 * 100k chunks searched); `small` keeps `all` under 10 minutes on a 2-core machine (fewer chunks to re-index: the D=384 model embeds ~350 chunks/s here); `tiny` is a smoke test.
 */
module.exports = {
  tiny: {
    relational: { users: 100, docs: 2_000 },
    vectors: { n: 1_000, dims: 384, users: 20 },
    reindex: { chunks: 1_000, users: 20 },
    memory: { relational: { users: 25, docs: 500 }, vectors: { n: 200, dims: 384, users: 10 } },
    search: { n: 5_000, dims: 384, users: 5, queries: 100, warmup: 20 },
    live: { docs: 300, pausesMs: [5] },
    queue: { n: 2_000, dims: 64, users: 10, partition: 500 },
  },
  small: {
    relational: { users: 2_500, docs: 50_000 },
    vectors: { n: 10_000, dims: 384, users: 50 },
    reindex: { chunks: 5_000, users: 50 },
    memory: { relational: { users: 250, docs: 5_000 }, vectors: { n: 1_000, dims: 384, users: 10 } },
    search: { n: 100_000, dims: 384, users: 100, queries: 500, warmup: 50 },
    live: { docs: 10_000, pausesMs: [5] },
    queue: { n: 20_000, dims: 384, users: 50, partition: 2_000 },
  },
  medium: {
    relational: { users: 10_000, docs: 200_000 },
    vectors: { n: 30_000, dims: 384, users: 100 },
    reindex: { chunks: 20_000, users: 50 },
    memory: { relational: { users: 1_000, docs: 20_000 }, vectors: { n: 3_000, dims: 384, users: 30 } },
    search: { n: 100_000, dims: 384, users: 100, queries: 1_000, warmup: 100 },
    live: { docs: 10_000, pausesMs: [5] },
    queue: { n: 50_000, dims: 384, users: 100, partition: 5_000 },
  },
  large: {
    relational: { users: 50_000, docs: 1_000_000 },
    vectors: { n: 100_000, dims: 384, users: 200 },
    reindex: { chunks: 20_000, users: 50 },
    memory: { relational: { users: 5_000, docs: 100_000 }, vectors: { n: 10_000, dims: 384, users: 50 } },
    search: { n: 100_000, dims: 384, users: 100, queries: 2_000, warmup: 200 },
    live: { docs: 10_000, pausesMs: [5] },
    queue: { n: 100_000, dims: 384, users: 200, partition: 10_000 },
  },
};

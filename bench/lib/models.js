'use strict';
/**
 * Embedding models for the benchmarks, all made by the project's generator (scripts/generate-test-model.js):
 * model weights cannot be downloaded here. The default test model (D=32), and the same generator at D=384
 * (the production model's dimension) in bench/.cache/models.
 */
const path = require('node:path');
const { ROOT, BENCH_DIR } = require('./child');

const gen = () => require(path.join(ROOT, 'scripts', 'generate-test-model.js'));

function testModel() {
  return gen().ensureTestModels().TEST_EMBEDDINGS_MODEL_PATH;
}

function model384() {
  const dir = path.join(BENCH_DIR, '.cache', 'models', 'switchyard-test-384');
  gen().ensureModel(dir, { name: 'switchyard-test-384', dim: 384, seed: (0x5317c0de ^ 384) >>> 0 });
  return dir;
}

module.exports = { testModel, model384 };

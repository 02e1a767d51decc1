export * from './llm.port';
export * from './drivers/ollama.driver';
export * from './llm.factory';
export * from './llm.module';
// Test helper (a real HTTP server speaking Ollama's API). Exported here as well as from './testing' because the
// Jest/tsconfig aliases only map the package root (`@switchyard/llm`), not subpaths. It has no side effects on import.
export * from './testing';

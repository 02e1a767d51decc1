export * from './fake-ollama.server';

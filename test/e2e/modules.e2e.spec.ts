import { Injectable, Module } from '@nestjs/common';
import { Test } from '@nestjs/testing';
import { Embeddings, EmbeddingsModule } from '@switchyard/embeddings';
import { KnowledgeModule, KnowledgeService } from '@switchyard/knowledge';
import { Llm, LlmModule } from '@switchyard/llm';
import { RelationalDb, RelationalDbModule } from '@switchyard/relational-db';
import { VectorDb, VectorDbModule } from '@switchyard/vector-db';
import { freshDir, serviceEnv } from '../support/services';

/** Another Nest app's own service, injecting the ports by their abstract classes. */
@Injectable()
class NotesService {
  constructor(
    readonly knowledge: KnowledgeService,
    readonly relational: RelationalDb,
    readonly vectors: VectorDb,
  ) {}
}

@Module({ providers: [NotesService], exports: [NotesService] })
class NotesModule {}

describe('importing the modules into another Nest app', () => {
  it('wires forRoot / forRootAsync modules, injects the ports, indexes and searches, and closes cleanly', async () => {
    const dir = freshDir('sy-mod-');
    const db = dir.file('host.sqlite');
    const moduleRef = await Test.createTestingModule({
      imports: [
        RelationalDbModule.forRootAsync({ useFactory: async () => ({ relational: { provider: 'sqlite', database: db, logging: false } }) }),
        VectorDbModule.forRoot({ vector: { provider: 'sqlite-vec', path: db, dimensions: 32, collection: 'host_vectors' }, model: 'switchyard-test-mini' }),
        EmbeddingsModule.forRootAsync({
          useFactory: () => ({ embeddings: { provider: 'xenova', model: 'unused', modelPath: serviceEnv('TEST_EMBEDDINGS_MODEL_PATH'), allowRemote: false, batchSize: 16, chunkSize: 200, chunkOverlap: 20 } }),
        }),
        LlmModule.forRoot({ llm: { provider: 'ollama', url: 'http://127.0.0.1:1', model: 'm', timeoutMs: 1000 } }),
        KnowledgeModule.forRoot({ chunkSize: 200, chunkOverlap: 20, maxDocumentBytes: 100_000, maxSearchLimit: 10, minScore: 0.2, answerContextChunks: 3 }),
        NotesModule,
      ],
    }).compile();
    const app = moduleRef.createNestApplication();
    await app.init();
    const notes = app.get(NotesService);
    expect(notes.relational.provider).toBe('sqlite');
    expect(notes.vectors.provider).toBe('sqlite-vec');
    expect(app.get(Embeddings).dimensions).toBe(32);
    expect(app.get(Llm).provider).toBe('ollama');
    await notes.knowledge.indexDocument('u1', { documentId: 'n1', content: 'The doctor examined the patient.' });
    const [hit] = await notes.knowledge.search('u1', 'physician', 1);
    expect(hit.documentId).toBe('n1');
    await app.close();
    await expect(notes.relational.ping()).resolves.toBe(false);
    dir.remove();
  });
});

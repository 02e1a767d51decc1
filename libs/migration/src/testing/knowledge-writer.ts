/**
 * An app instance that keeps indexing, re-indexing and deleting documents through the KnowledgeService on
 * a live VECTORS migration's source (its relational database and vector store), in its own process, until
 * its stdin closes. Each write is one line on stdout: `ok <op>` or `refused <op> <message>`.
 *
 *   node -r ts-node/register/transpile-only -r tsconfig-paths/register libs/migration/src/testing/knowledge-writer.ts '<RelationalDbConfig JSON>' '<VectorDbConfig JSON>' <seed> [pause ms between writes]
 */
import { errorMessage, RelationalDbConfig, VectorDbConfig } from '@switchyard/core';
import { HashEmbeddings } from '../../../embeddings/src/testing/hash-embeddings';
import { KnowledgeService } from '@switchyard/knowledge';
import { createRelationalDb, DocumentEntity, DocumentsRepository, UsersRepository, VectorFreezeRepository } from '@switchyard/relational-db';
import { createVectorDb } from '@switchyard/vector-db';

async function main(): Promise<void> {
  const rel = createRelationalDb(JSON.parse(process.argv[2]) as RelationalDbConfig);
  const embeddings = new HashEmbeddings();
  const vec = createVectorDb(JSON.parse(process.argv[3]) as VectorDbConfig, embeddings.model);
  let x = Number(process.argv[4] ?? 1) || 1;
  const pauseMs = Number(process.argv[5] ?? 0);
  const next = (n: number) => {
    x = (x * 1103515245 + 12345) % 2147483648;
    return x % n;
  };
  await rel.init();
  await vec.init();
  const llm = { chat: async () => '' } as never;
  const options = { chunkSize: 200, chunkOverlap: 0, maxDocumentBytes: 1_000_000, maxSearchLimit: 20, minScore: 0, answerContextChunks: 3 };
  const app = new KnowledgeService(new DocumentsRepository(rel), new UsersRepository(rel), vec, embeddings, llm, options, new VectorFreezeRepository(rel));
  let stop = false;
  process.stdin.on('end', () => (stop = true)).on('close', () => (stop = true));
  process.stdin.resume();
  const text = (i: number, parts: number) => Array.from({ length: parts }, (_, p) => `Write ${i} part ${p}: ${'lorem ipsum dolor sit amet '.repeat(6)}`).join('\n\n');
  for (let i = 0; !stop; i++) {
    await new Promise((r) => (pauseMs ? setTimeout(r, pauseMs) : setImmediate(r)));
    const op = ['index-new', 'reindex', 'reindex', 'reindex-shorter', 'delete'][next(5)];
    try {
      const userId = `u${String(next(30)).padStart(4, '0')}`;
      const own = await rel.repository(DocumentEntity).find({ select: { externalId: true }, where: { userId }, take: 50 });
      const pick = () => own[next(own.length)].externalId;
      if (op === 'index-new') await app.indexDocument(userId, { documentId: `live-${i}`, content: text(i, 1 + next(6)), title: `live ${i}` });
      else if (!own.length) continue;
      else if (op === 'reindex') await app.indexDocument(userId, { documentId: pick(), content: text(i, 2 + next(6)), title: `re ${i}` });
      else if (op === 'reindex-shorter') await app.indexDocument(userId, { documentId: pick(), content: text(i, 1), title: `short ${i}` });
      else await app.deleteDocument(userId, pick());
      process.stdout.write(`ok ${op}\n`);
    } catch (e) {
      process.stdout.write(`refused ${op} ${errorMessage(e).replace(/\s+/g, ' ').slice(0, 200)}\n`);
      await new Promise((r) => setTimeout(r, 20));
    }
  }
  await vec.close();
  await rel.close();
}

main().catch((e) => {
  process.stderr.write(`knowledge-writer: ${errorMessage(e)}\n`);
  process.exit(1);
});

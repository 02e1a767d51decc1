/**
 * An app instance that keeps writing to a migration source (the live-migration test's writer), in its own
 * process: inserts, updates and deletes of users and documents through the repositories, as fast as it can,
 * until its stdin closes. Each write is one line on stdout: `ok <op>` or `refused <op> <message>`.
 *
 *   node -r ts-node/register/transpile-only -r tsconfig-paths/register libs/migration/src/testing/source-writer.ts '<RelationalDbConfig JSON>' <seed>
 */
import { errorMessage, RelationalDbConfig } from '@switchyard/core';
import { createRelationalDb, DocumentEntity, DocumentsRepository, UserEntity } from '@switchyard/relational-db';

async function main(): Promise<void> {
  const config = JSON.parse(process.argv[2]) as RelationalDbConfig;
  let x = Number(process.argv[3] ?? 1) || 1;
  const next = (n: number) => {
    x = (x * 1103515245 + 12345) % 2147483648;
    return x % n;
  };
  const db = createRelationalDb(config);
  await db.init();
  const docs = new DocumentsRepository(db);
  let stop = false;
  process.stdin.on('end', () => (stop = true)).on('close', () => (stop = true));
  process.stdin.resume();
  for (let i = 0; !stop; i++) {
    // better-sqlite3 answers synchronously: without a turn of the event loop, stdin's end would never be seen.
    await new Promise((r) => setImmediate(r));
    const users = await db.repository(UserEntity).find({ select: { id: true }, order: { id: 'ASC' } });
    const op = next(10);
    const name = ['insert-user', 'insert-doc', 'insert-doc', 'update-doc', 'update-doc', 'update-doc', 'delete-doc', 'delete-doc', 'delete-user', 'update-user'][op];
    try {
      if (name === 'insert-user') await db.repository(UserEntity).insert({ id: `live-u${i}-${next(1e6)}`, roles: null, active: true });
      else if (!users.length) continue;
      else {
        const userId = users[next(users.length)].id;
        const own = await db.repository(DocumentEntity).find({ select: { id: true, externalId: true }, where: { userId }, take: 50 });
        if (name === 'insert-doc') await docs.save({ userId, externalId: `live-${i}`, title: `live ${i}`, content: `written during the copy, write ${i}` });
        else if (name === 'update-doc' && own.length) await docs.save({ userId, externalId: own[next(own.length)].externalId, title: `updated ${i}`, content: `updated during the copy, write ${i}` });
        else if (name === 'delete-doc' && own.length) await docs.delete(userId, own[next(own.length)].externalId);
        else if (name === 'update-user') await db.repository(UserEntity).update({ id: userId }, { displayName: `renamed ${i}` });
        else if (name === 'delete-user') {
          // A user goes with their documents, in one transaction (what the app would do).
          await db.dataSource.transaction(async (em) => {
            await em.getRepository(DocumentEntity).delete({ userId });
            await em.getRepository(UserEntity).delete({ id: userId });
          });
        } else continue;
      }
      process.stdout.write(`ok ${name}\n`);
    } catch (e) {
      process.stdout.write(`refused ${name} ${errorMessage(e).replace(/\s+/g, ' ').slice(0, 200)}\n`);
      await new Promise((r) => setTimeout(r, 20));
    }
  }
  await db.close();
}

main().catch((e) => {
  process.stderr.write(`source-writer: ${errorMessage(e)}\n`);
  process.exit(1);
});

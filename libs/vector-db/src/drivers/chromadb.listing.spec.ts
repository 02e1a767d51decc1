import { randomBytes } from 'node:crypto';
import { ChromaClient } from 'chromadb';
import { makeRecords } from '../testing/records';
import { ChromaVectorDb } from './chromadb.driver';
import { serviceEnv } from '../../../../test/support/services';

const DIMS = 8;

/** Lists ids 20 at a time and lets a test act between two listing requests. */
class SmallListing extends ChromaVectorDb {
  protected override listPage = 20;
  between?: (offset: number, page: string[]) => Promise<void>;
  protected override async listIds(offset: number, limit: number): Promise<string[]> {
    const page = await super.listIds(offset, limit);
    await this.between?.(offset, page);
    return page;
  }
}

describe('chromadb: listing ids while another instance deletes', () => {
  const url = serviceEnv('TEST_CHROMA_URL');
  const collection = `listing_${randomBytes(4).toString('hex')}`;
  const config = { provider: 'chromadb' as const, url, dimensions: DIMS, collection };
  const recs = makeRecords(100, DIMS, { seed: 9 });
  let writer: ChromaVectorDb;

  beforeEach(async () => {
    writer = new ChromaVectorDb(config, 'm');
    await writer.init();
    await writer.reset();
    await writer.upsert(recs);
  });
  afterAll(async () => {
    await writer?.close();
    const u = new URL(url);
    await new ChromaClient({ host: u.hostname, port: Number(u.port) }).deleteCollection({ name: collection }).catch(() => undefined);
  });

  it('deletions that shift the listing offsets do not make a scan skip ids', async () => {
    const reader = new SmallListing(config, null);
    await reader.init({ createIfMissing: false });
    const gone: string[] = [];
    reader.between = async (offset, page) => {
      if (offset !== 0 || gone.length) return;
      gone.push(...page.slice(0, 5)); // five ids before the next request's offset
      await writer.deleteIds(gone);
    };
    const seen: string[] = [];
    for await (const page of reader.scan(30)) seen.push(...page.map((r) => r.id));
    expect(gone).toHaveLength(5);
    expect(seen).toEqual(recs.map((r) => r.id).filter((id) => !gone.includes(id)));
    await reader.close();
  });

  it('a collection that keeps shifting under the listing is a CONFLICT, not a short scan', async () => {
    const reader = new SmallListing(config, null);
    await reader.init({ createIfMissing: false });
    reader.between = async (offset, page) => {
      if (offset === 0) await writer.deleteIds(page.slice(0, 3));
    };
    const scan = async () => {
      for await (const page of reader.scan(30)) void page;
    };
    await expect(scan()).rejects.toMatchObject({ code: 'CONFLICT', message: expect.stringContaining('kept changing while its ids were listed') });
    await reader.close();
  });
});

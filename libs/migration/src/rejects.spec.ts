import { mkdirSync, symlinkSync, writeFileSync } from 'node:fs';
import * as path from 'node:path';
import { text } from 'node:stream/consumers';
import { freshDir } from '../../../test/support/services';
import { RejectFile } from './rejects';

/** RejectFile.open(): what the console's download streams (a real file in a real directory). */
describe('RejectFile.open (the reject download)', () => {
  const dir = freshDir('sy-rejects-');
  afterAll(() => dir.remove());

  it('null for a job that set nothing aside: no file, or a file without a line', () => {
    expect(new RejectFile(dir.dir, 'none').open()).toBeNull();
    mkdirSync(path.join(dir.dir, 'rejects'), { recursive: true });
    writeFileSync(path.join(dir.dir, 'rejects', 'empty.ndjson'), '');
    expect(new RejectFile(dir.dir, 'empty').open()).toBeNull();
  });

  it('the lines there when it was opened, and their byte count', async () => {
    const file = new RejectFile(dir.dir, 'some');
    file.append([{ step: 's', id: 'a', reason: 'bad', record: { x: 1 } }, { step: 's', id: 'b', reason: 'worse', record: null }]);
    const opened = file.open()!;
    file.append([{ step: 's', id: 'c', reason: 'later', record: null }]); // after the open: not in this download
    const body = await text(opened.stream);
    expect(Buffer.byteLength(body)).toBe(opened.bytes);
    expect(body.trim().split('\n').map((l) => (JSON.parse(l) as { id: string }).id)).toEqual(['a', 'b']);
  });

  it('refuses a planted symlink instead of following it out of the data dir', () => {
    writeFileSync(dir.file('outside.txt'), 'secret\n');
    symlinkSync(dir.file('outside.txt'), path.join(dir.dir, 'rejects', 'linked.ndjson'));
    expect(() => new RejectFile(dir.dir, 'linked').open()).toThrow(/ELOOP|symbolic/);
  });
});

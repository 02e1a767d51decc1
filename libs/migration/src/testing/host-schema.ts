import { RelationalDb } from '@switchyard/relational-db';
import { rng } from '../../../vector-db/src/testing/records';
import { Column, CreateDateColumn, Entity, JoinColumn, JoinTable, ManyToMany, ManyToOne, PrimaryColumn, PrimaryGeneratedColumn } from 'typeorm';

/*
 * A host app's own schema, as a TypeORM user writes it: integer and uuid keys, an FK chain of three
 * (authors <- posts <- comments), a self-reference (categories), a many-to-many join table (post_tags),
 * a composite key (post_revisions), JSON, an enum, booleans, dates, bytes, decimals, a 2 MB text, and a
 * host table named `users` (the name Switchyard 0.1 used for its own).
 */

/** The host's own `users`. */
@Entity('users')
export class HostAccount {
  @PrimaryGeneratedColumn()
  id: number;

  @Column({ type: 'varchar', length: 200 })
  email: string;

  @Column({ type: 'boolean', default: false })
  admin: boolean;
}

@Entity('authors')
export class Author {
  @PrimaryGeneratedColumn()
  id: number;

  @Column({ type: 'varchar', length: 120 })
  name: string;

  @Column({ type: 'boolean' })
  active: boolean;

  @Column({ type: 'date', nullable: true })
  born: string | null;

  @Column({ type: 'simple-json', nullable: true })
  profile: Record<string, unknown> | null;

  @CreateDateColumn({ name: 'created_at' })
  createdAt: Date;
}

@Entity('categories')
export class Category {
  @PrimaryGeneratedColumn()
  id: number;

  @Column({ type: 'varchar', length: 80 })
  name: string;

  /** Self-reference: a parent may have a higher id than its child. */
  @ManyToOne(() => Category, { nullable: true })
  @JoinColumn({ name: 'parent_id' })
  parent: Category | null;
}

@Entity('tags')
export class Tag {
  @PrimaryColumn({ type: 'varchar', length: 40 })
  slug: string;

  @Column({ type: 'varchar', length: 80 })
  label: string;
}

export type PostStatus = 'draft' | 'published' | 'archived';

@Entity('posts')
export class Post {
  @PrimaryGeneratedColumn('uuid')
  id: string;

  @ManyToOne(() => Author, { nullable: false })
  @JoinColumn({ name: 'author_id' })
  author: Author;

  @ManyToOne(() => Category, { nullable: true })
  @JoinColumn({ name: 'category_id' })
  category: Category | null;

  @Column({ type: 'varchar', length: 200 })
  title: string;

  @Column({ type: 'text' })
  body: string;

  @Column({ type: 'simple-enum', enum: ['draft', 'published', 'archived'] })
  status: PostStatus;

  @Column({ type: 'decimal', precision: 10, scale: 2 })
  price: string;

  @Column({ type: 'real', nullable: true })
  rating: number | null;

  /** Written in SQLite's words: PostgreSQL stores it as timestamptz. */
  @Column({ name: 'published_at', type: 'datetime', nullable: true })
  publishedAt: Date | null;

  /** Written in SQLite's words: PostgreSQL stores it as bytea. */
  @Column({ type: 'blob', nullable: true })
  cover: Buffer | null;

  @Column({ type: 'simple-json', nullable: true })
  meta: unknown;

  @ManyToMany(() => Tag)
  @JoinTable({ name: 'post_tags', joinColumn: { name: 'post_id' }, inverseJoinColumn: { name: 'tag_slug' } })
  tags: Tag[];
}

@Entity('comments')
export class Comment {
  @PrimaryGeneratedColumn()
  id: number;

  @ManyToOne(() => Post, { nullable: false })
  @JoinColumn({ name: 'post_id' })
  post: Post;

  @Column({ type: 'text' })
  text: string;

  @Column({ type: 'integer', default: 0 })
  likes: number;
}

/** Composite primary key. */
@Entity('post_revisions')
export class PostRevision {
  @PrimaryColumn({ name: 'post_id', type: 'uuid' })
  postId: string;

  @PrimaryColumn({ type: 'integer' })
  rev: number;

  @ManyToOne(() => Post, { nullable: false })
  @JoinColumn({ name: 'post_id' })
  post: Post;

  @Column({ type: 'text' })
  diff: string;
}

export const HOST_ENTITIES = [HostAccount, Author, Category, Tag, Post, Comment, PostRevision];

const uuid = (n: number) => {
  const h = n.toString(16).padStart(12, '0');
  return `00000000-0000-4000-8000-${h}`;
};

export interface HostScale {
  accounts: number;
  authors: number;
  categories: number;
  tags: number;
  posts: number;
  /** post_tags rows: tags per post. */
  tagsPerPost: number;
  comments: number;
  revisions: number;
}

export const HOST_SCALE: HostScale = { accounts: 500, authors: 2000, categories: 500, tags: 200, posts: 10_000, tagsPerPost: 2, comments: 15_000, revisions: 3000 };

export const hostRowCount = (s: HostScale) => s.accounts + s.authors + s.categories + s.tags + s.posts + s.posts * s.tagsPerPost + s.comments + s.revisions;

/** Fills the host's tables (as column rows, in parent order) with seeded data; one post body is 2 MB. */
export async function seedHostSchema(db: RelationalDb, s: HostScale = HOST_SCALE, seed = 7): Promise<void> {
  const rnd = rng(seed);
  const pick = (n: number) => 1 + Math.floor(rnd() * n);
  const write = async (entity: Parameters<RelationalDb['table']>[0], rows: Record<string, unknown>[]) => {
    const io = db.table(entity);
    for (let i = 0; i < rows.length; i += 2000) await io.write(rows.slice(i, i + 2000), 'error');
  };
  await write(HostAccount, Array.from({ length: s.accounts }, (_, i) => ({ id: i + 1, email: `host${i}@example.com`, admin: i % 10 === 0 })));
  await write(
    Author,
    Array.from({ length: s.authors }, (_, i) => ({
      id: i + 1,
      name: `Äuthor ${i} ✍️`,
      active: i % 3 !== 0,
      born: i % 5 === 0 ? null : `19${String(50 + (i % 50)).padStart(2, '0')}-0${1 + (i % 9)}-1${i % 10}`,
      profile: i % 4 === 0 ? null : { langs: ['en', i % 2 ? 'de' : 'fr'], n: i, nested: { ok: i % 2 === 0 } },
      created_at: new Date(Date.UTC(2024, i % 12, 1 + (i % 28), 8, 9, 10, i % 1000)),
    })),
  );
  // One statement per 2000 rows: a parent with a higher id than its child is in the same batch (SQLite checks at the statement's end).
  await write(Category, Array.from({ length: s.categories }, (_, i) => ({ id: i + 1, name: `cat ${i}`, parent_id: i % 7 === 0 ? null : pick(s.categories) })));
  await write(Tag, Array.from({ length: s.tags }, (_, i) => ({ slug: `tag-${i}`, label: `Tag ${i}` })));
  const statuses = ['draft', 'published', 'archived'];
  await write(
    Post,
    Array.from({ length: s.posts }, (_, i) => ({
      id: uuid(i + 1),
      author_id: pick(s.authors),
      category_id: i % 9 === 0 ? null : pick(s.categories),
      title: `Post ${i} "quoted", back\\slash, ünïcode 🚀`,
      body: i === 3 ? 'x'.repeat(2 * 1024 * 1024) : `Body of post ${i}.\nSecond line, tab\there.`,
      status: statuses[i % 3],
      price: `${(i * 37) % 10000}.${String(i % 100).padStart(2, '0')}`,
      rating: i % 6 === 0 ? null : (i % 50) / 10,
      published_at: i % 4 === 0 ? null : new Date(Date.UTC(2025, i % 12, 1 + (i % 27), i % 24, i % 60, i % 60, i % 1000)),
      cover: i % 5 === 0 ? Buffer.from([0, 1, 2, 255, i % 256, 0]) : null,
      meta: i % 3 === 0 ? null : { words: i * 3, flags: [true, false], none: null },
    })),
  );
  const postTags: Record<string, unknown>[] = [];
  for (let i = 0; i < s.posts; i++) {
    const first = i % s.tags;
    for (let k = 0; k < s.tagsPerPost; k++) postTags.push({ post_id: uuid(i + 1), tag_slug: `tag-${(first + k * 7) % s.tags}` });
  }
  const junction = db.dataSource.entityMetadatas.find((m) => m.tableName === 'post_tags')!;
  await write(junction.target, postTags);
  await write(Comment, Array.from({ length: s.comments }, (_, i) => ({ id: i + 1, post_id: uuid(pick(s.posts)), text: `comment ${i}`, likes: i % 13 })));
  await write(PostRevision, Array.from({ length: s.revisions }, (_, i) => ({ post_id: uuid(1 + Math.floor(i / 3)), rev: 1 + (i % 3), diff: `@@ -${i} +${i + 1} @@` })));
}

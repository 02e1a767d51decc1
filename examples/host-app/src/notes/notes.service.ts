import { Injectable, NotFoundException } from '@nestjs/common';
import { KnowledgeHit, KnowledgeService } from '@switchyard/knowledge';
import { RelationalDb } from '@switchyard/relational-db';
import { Repository } from 'typeorm';
import { User } from '../users/user.entity';
import { Note } from './note.entity';

/** The host's own logic: its tables through Switchyard's DataSource, its text through the KnowledgeService. */
@Injectable()
export class NotesService {
  private readonly users: Repository<User>;
  private readonly notes: Repository<Note>;

  constructor(
    relationalDb: RelationalDb,
    private readonly knowledge: KnowledgeService,
  ) {
    // Host entities live in the same TypeORM DataSource as Switchyard's tables.
    this.users = relationalDb.repository(User);
    this.notes = relationalDb.repository(Note);
  }

  createUser(input: { id: string; email: string; displayName: string }): Promise<User> {
    return this.users.save(this.users.create(input));
  }

  async getUser(id: string): Promise<User> {
    const user = await this.users.findOneBy({ id });
    if (!user) throw new NotFoundException(`no user ${id}`);
    return user;
  }

  /** Saves the note, then indexes its text for the user (Switchyard document id = note id). */
  async createNote(userId: string, input: { title: string; body: string }): Promise<Note> {
    await this.getUser(userId);
    const note = await this.notes.save(this.notes.create({ userId, title: input.title, body: input.body }));
    const indexed = await this.knowledge.indexDocument(userId, { documentId: note.id, title: note.title, content: note.body });
    note.chunks = indexed.chunks;
    return this.notes.save(note);
  }

  async getNote(userId: string, id: string): Promise<Note> {
    const note = await this.notes.findOneBy({ id, userId });
    if (!note) throw new NotFoundException(`no note ${id}`);
    return note;
  }

  listNotes(userId: string): Promise<Note[]> {
    return this.notes.find({ where: { userId }, order: { createdAt: 'ASC' } });
  }

  /** Semantic search over the user's notes, best first, with the note each hit belongs to. */
  async search(userId: string, query: string, limit: number): Promise<Array<KnowledgeHit & { noteId: string }>> {
    const hits = await this.knowledge.search(userId, query, limit);
    return hits.map((h) => ({ ...h, noteId: h.documentId }));
  }

  /** Removes the note and its chunks. */
  async deleteNote(userId: string, id: string): Promise<void> {
    const note = await this.getNote(userId, id);
    await this.knowledge.deleteDocument(userId, note.id);
    await this.notes.delete({ id: note.id });
  }
}

import { Body, Controller, DefaultValuePipe, Delete, Get, HttpCode, Param, ParseIntPipe, Post, Query } from '@nestjs/common';
import { MigrationService } from '@switchyard/migration';
import { NotesService } from './notes.service';

@Controller()
export class NotesController {
  constructor(
    private readonly notes: NotesService,
    private readonly migrations: MigrationService,
  ) {}

  @Post('users')
  createUser(@Body() body: { id: string; email: string; displayName: string }) {
    return this.notes.createUser(body);
  }

  @Get('users/:userId')
  getUser(@Param('userId') userId: string) {
    return this.notes.getUser(userId);
  }

  @Post('users/:userId/notes')
  createNote(@Param('userId') userId: string, @Body() body: { title: string; body: string }) {
    return this.notes.createNote(userId, body);
  }

  @Get('users/:userId/notes')
  listNotes(@Param('userId') userId: string) {
    return this.notes.listNotes(userId);
  }

  @Get('users/:userId/notes/:id')
  getNote(@Param('userId') userId: string, @Param('id') id: string) {
    return this.notes.getNote(userId, id);
  }

  @Delete('users/:userId/notes/:id')
  @HttpCode(204)
  deleteNote(@Param('userId') userId: string, @Param('id') id: string) {
    return this.notes.deleteNote(userId, id);
  }

  @Get('users/:userId/search')
  search(@Param('userId') userId: string, @Query('q') q: string, @Query('limit', new DefaultValuePipe(5), ParseIntPipe) limit: number) {
    return this.notes.search(userId, q, limit);
  }

  /** Switchyard's migration jobs (MigrationModule), e.g. to watch a provider switch from an admin page. */
  @Get('admin/migrations')
  listMigrations() {
    return this.migrations.list();
  }
}

import { Controller, Delete, Get, HttpCode, Inject, Param, Post, Req, Res, UseGuards } from '@nestjs/common';
import { SwitchyardError } from '@switchyard/core';
import { MigrationService } from '@switchyard/migration';
import type { Request, Response } from 'express';
import { pipeline } from 'node:stream/promises';
import { Authenticator } from '../auth/auth';
import { adminOf, clearSession, ConsoleAdminGuard, setSession } from './console-session';

/** The console's session: sign-in sets the cookie the browser sends for downloads and the queue dashboard. */
@Controller('console-auth')
export class ConsoleSessionController {
  constructor(private readonly auth: Authenticator) {}

  /** `Authorization: Bearer <admin token>` in, the session cookie out (204); a non-admin token is 403. */
  @Post('session')
  @HttpCode(204)
  async open(@Req() req: Request, @Res({ passthrough: true }) res: Response): Promise<void> {
    setSession(req, res, await adminOf(this.auth, req));
  }

  @Delete('session')
  @HttpCode(204)
  close(@Res({ passthrough: true }) res: Response): void {
    clearSession(res);
  }
}

/** What the console downloads over plain HTTP (an admin's session cookie or bearer token). */
@Controller('console/api')
@UseGuards(ConsoleAdminGuard)
export class ConsoleApiController {
  constructor(@Inject(MigrationService) private readonly migrations: MigrationService) {}

  /**
   * A job's reject file as it is now (NDJSON: one line per record set aside, with its step, id, reason and
   * the record). 404 for an unknown job or one that set nothing aside.
   */
  @Get('jobs/:id/rejects')
  async rejects(@Param('id') id: string, @Res() res: Response): Promise<void> {
    const file = await this.migrations.rejects(id);
    if (!file) throw new SwitchyardError('NOT_FOUND', `job ${id} set nothing aside: it has no reject file`);
    res.status(200);
    res.setHeader('content-type', 'application/x-ndjson; charset=utf-8');
    res.setHeader('content-length', String(file.bytes));
    res.setHeader('content-disposition', `attachment; filename="${file.name}"`);
    res.setHeader('cache-control', 'no-store');
    await pipeline(file.stream, res);
  }
}

import { Controller, DynamicModule, Get, Head, HttpCode, Inject, Module, NotFoundException, Post } from '@nestjs/common';
import type { NestExpressApplication } from '@nestjs/platform-express';
import { SWITCHYARD_CONFIG, SwitchyardConfig } from '@switchyard/core';
import { existsSync } from 'node:fs';
import * as path from 'node:path';
import { Authenticator, mintToken } from '../auth/auth';
import { AuthModule } from '../auth/auth.module';
import { ConsoleApiController, ConsoleSessionController } from './console-api.controller';
import { requireAdmin } from './console-session';
import { QUEUES_PATH, QueueDashboard } from './queue-dashboard';

/** Where `npm run build` put the console (dist/console), from the sources (ts) or from the compiled app (dist). */
export function consoleDir(): string | null {
  const candidates = [path.resolve(__dirname, '../../../../dist/console'), path.resolve(__dirname, '../../../../console')];
  return candidates.find((d) => existsSync(path.join(d, 'index.html'))) ?? null;
}

/** How long a development login's token lives. */
const DEV_TOKEN = '1h';

/**
 * The console's one server-side helper: a one-click admin login, only where it gives nothing away, i.e.
 * NODE_ENV=development with the public development secret (no AUTH_JWT_SECRET set: anyone can mint a token
 * with that secret already). Everywhere else, your own secret or an identity provider included, it is 404
 * and the operator pastes a token. The console's data all comes through GraphQL, which checks the admin
 * role on every operation.
 */
@Controller('console-auth')
class DevLoginController {
  constructor(@Inject(SWITCHYARD_CONFIG) private readonly config: SwitchyardConfig) {}

  private enabled(): boolean {
    return this.config.env === 'development' && this.config.auth.insecureDefault && !this.config.auth.jwks;
  }

  @Head('dev-login')
  @HttpCode(204)
  available(): void {
    if (!this.enabled()) throw new NotFoundException('development login is off: it needs NODE_ENV=development without AUTH_JWT_SECRET (paste a token instead)');
  }

  @Post('dev-login')
  login(): { token: string } {
    if (!this.enabled()) throw new NotFoundException('development login is off: it needs NODE_ENV=development without AUTH_JWT_SECRET (paste a token instead)');
    return { token: mintToken(this.config.auth.jwtSecret, 'console-dev', ['admin'], DEV_TOKEN) };
  }
}

/** Says what to do when the console was not built (a checkout that ran `npm install` only). */
@Controller('console')
class NotBuiltController {
  @Get()
  missing(): never {
    throw new NotFoundException('The console is not built: run `npm run build` (it writes dist/console), then restart.');
  }
}

/**
 * What the console's pages may load: only this origin (scripts, styles, fonts, images, API and
 * graphql-ws). A page of it can make no request to another host, whatever a bundle (ours, bull-board's)
 * links to: bull-board's page names a web font on fonts.googleapis.com, which the browser never asks for.
 */
const CONTENT_SECURITY_POLICY = [
  "default-src 'self'",
  "script-src 'self'",
  "style-src 'self' 'unsafe-inline'",
  "img-src 'self' data:",
  "font-src 'self' data:",
  "connect-src 'self'",
  "frame-ancestors 'none'",
  "base-uri 'self'",
  "form-action 'self'",
].join('; ');

/**
 * The operator console at /console: static assets built by Vite (`npm run build`), served by the app
 * itself (Express's static middleware through Nest's useStaticAssets, mounted by configureApp: a module
 * provider cannot, the HTTP adapter does not exist yet when a testing module compiles); its downloads
 * at /console/api; with MIGRATION_QUEUE=bullmq, bull-board at /console/queues.
 */
@Module({})
export class ConsoleModule {
  static forRoot(): DynamicModule {
    const controllers = [DevLoginController, ConsoleSessionController, ConsoleApiController];
    return { module: ConsoleModule, imports: [AuthModule], controllers: consoleDir() ? controllers : [...controllers, NotBuiltController], providers: [QueueDashboard] };
  }

  /** Serves dist/console at /console (index.html for /console/), when it was built, and the queue dashboard. */
  static mount(app: NestExpressApplication): void {
    app.use('/console', (_req: unknown, res: { setHeader(k: string, v: string): void }, next: () => void) => {
      res.setHeader('content-security-policy', CONTENT_SECURITY_POLICY);
      res.setHeader('x-content-type-options', 'nosniff');
      next();
    });
    const queues = app.get(QueueDashboard, { strict: false }).router;
    if (queues) app.use(QUEUES_PATH, requireAdmin(app.get(Authenticator, { strict: false })), queues);
    const dir = consoleDir();
    if (dir) app.useStaticAssets(dir, { prefix: '/console', index: 'index.html', fallthrough: true, redirect: true });
  }
}

import 'reflect-metadata';
import { Logger } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import { NestExpressApplication } from '@nestjs/platform-express';
import { ConsoleModule } from './console/console.module';
import { ConfigError, loadConfig, SwitchyardConfig, SwitchyardError } from '@switchyard/core';
import { Logger as AppLogger, PinoLogger } from 'nestjs-pino';
import { pinoHttp } from 'pino-http';
import { AppModule } from './app.module';
import { loggingOptions } from './logging';

/** Loads `.env` (if present) without overriding the real environment. */
function loadDotEnv(): void {
  try {
    process.loadEnvFile?.('.env');
  } catch {
    /* no .env */
  }
}

/** HTTP settings shared by the server and the tests. Create the app with `{ bodyParser: false }`. */
export function configureApp(app: NestExpressApplication, config: SwitchyardConfig): NestExpressApplication {
  // First: every request gets its id and its log line, also one the body parser refuses. nestjs-pino
  // (useExisting) takes the request's logger from it, and its root logger for lines outside a request.
  const http = pinoHttp(loggingOptions(config).pinoHttp);
  (PinoLogger as unknown as { root: unknown }).root = http.logger;
  app.use(http);
  // A document travels as a JSON string: room for the largest allowed document, escaped, plus the query.
  app.useBodyParser('json', { limit: config.knowledge.maxDocumentBytes * 2 + 1024 * 1024 });
  app.enableShutdownHooks();
  // No framework advertisement in every response.
  app.disable('x-powered-by');
  ConsoleModule.mount(app);
  return app;
}

export async function bootstrap(config: SwitchyardConfig) {
  const app = configureApp(await NestFactory.create<NestExpressApplication>(AppModule.forRoot(config), { bodyParser: false, abortOnError: false, bufferLogs: true }), config);
  // Nest's own log lines (and every `new Logger(...)` in Switchyard) go through pino, with the request id.
  app.useLogger(app.get(AppLogger));
  await app.listen(config.port, config.host);
  return app;
}

async function main() {
  loadDotEnv();
  let config: SwitchyardConfig;
  try {
    config = loadConfig();
  } catch (e) {
    if (e instanceof ConfigError) {
      process.stderr.write(`${e.message}\nSee .env.example for every variable and its default.\n`);
      process.exit(1);
    }
    throw e;
  }
  const log = new Logger('Switchyard');
  if (config.auth.insecureDefault) log.warn('AUTH_JWT_SECRET is not set: using an insecure development secret.');
  try {
    await bootstrap(config);
  } catch (e) {
    const msg = e instanceof SwitchyardError ? `${e.code}: ${e.message}` : e instanceof Error ? (e.stack ?? e.message) : String(e);
    process.stderr.write(`Switchyard failed to start: ${msg}\n`);
    process.exit(1);
  }
  log.log(
    `listening on http://${config.host}:${config.port}/graphql (relational=${config.relational.provider}, vector=${config.vector.provider}, embeddings=${config.embeddings.provider})`,
  );
}

if (require.main === module) void main();

import { Controller, Get, Res, ServiceUnavailableException } from '@nestjs/common';
import { HealthCheckResult, HealthCheckService } from '@nestjs/terminus';
import type { Response } from 'express';
import { Readiness } from './readiness';

/**
 * Liveness and readiness for load balancers and orchestrators, without auth.
 *
 * - `GET /health/live`: 200 while the process serves HTTP (no provider is called).
 * - `GET /health/ready`: 200 when every active provider answered within HEALTH_TIMEOUT_MS and the
 *   relational database is not frozen by a live migration; otherwise 503 naming what is down.
 *   Both are 503 (`shutting_down`) once shutdown has begun.
 *
 * The response is written here (not thrown): the app's global filter turns exceptions into GraphQL
 * errors, which is not what an HTTP probe should get.
 */
@Controller('health')
export class HealthController {
  constructor(
    private readonly health: HealthCheckService,
    private readonly readiness: Readiness,
  ) {}

  @Get('live')
  async live(@Res() res: Response): Promise<void> {
    send(res, await this.run([]));
  }

  @Get('ready')
  async ready(@Res() res: Response): Promise<void> {
    send(res, await this.run(this.readiness.indicators()));
  }

  private async run(indicators: Parameters<HealthCheckService['check']>[0]): Promise<HealthCheckResult> {
    try {
      return await this.health.check(indicators);
    } catch (e) {
      if (e instanceof ServiceUnavailableException) return e.getResponse() as HealthCheckResult;
      return { status: 'error', info: {}, error: {}, details: {} };
    }
  }
}

function send(res: Response, result: HealthCheckResult): void {
  res
    .status(result.status === 'ok' ? 200 : 503)
    .set('cache-control', 'no-store')
    .json(result);
}

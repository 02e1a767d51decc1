import { Module } from '@nestjs/common';
import { TerminusModule } from '@nestjs/terminus';
import { HealthController } from './health.controller';
import { Readiness } from './readiness';

/**
 * `GET /health/live` and `GET /health/ready` (@nestjs/terminus). Needs the global Switchyard config,
 * RelationalDb, VectorDb and Embeddings (as AppModule provides them). Terminus' own error log is off:
 * Readiness logs one line per change of state instead of a stack of JSON per failed probe.
 */
@Module({
  imports: [TerminusModule.forRoot({ logger: false })],
  controllers: [HealthController],
  providers: [Readiness],
})
export class HealthModule {}

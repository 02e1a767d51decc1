import { Global, Module } from '@nestjs/common';
import { loadConfig, SwitchyardConfig } from './config';

/** Injection token for the validated config. */
export const SWITCHYARD_CONFIG = Symbol('SWITCHYARD_CONFIG');

/**
 * Validates env once at boot. `forRoot()` reads process.env; pass an object to override (tests, embedding apps).
 */
@Global()
@Module({})
export class SwitchyardConfigModule {
  static forRoot(config?: SwitchyardConfig) {
    return {
      module: SwitchyardConfigModule,
      providers: [{ provide: SWITCHYARD_CONFIG, useValue: config ?? loadConfig() }],
      exports: [SWITCHYARD_CONFIG],
    };
  }
}

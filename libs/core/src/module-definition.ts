import { ConfigurableModuleBuilder } from '@nestjs/common';

/**
 * The shape every Switchyard provider module shares: `forRoot(options)` / `forRootAsync({ useFactory })`,
 * global unless `isGlobal: false` (like @nestjs/typeorm's TypeOrmModule).
 */
export function providerModuleDefinition<Options extends object>() {
  return new ConfigurableModuleBuilder<Options>()
    .setClassMethodName('forRoot')
    .setExtras({ isGlobal: true }, (definition, extras) => ({ ...definition, global: extras.isGlobal }))
    .build();
}

export * from './document-rules';
export * from './chunking';
export * from './knowledge.types';
export * from './knowledge.service';
export * from './knowledge.module';
export * from './stored-chunks';
export * from './generations';

import { Module } from '@nestjs/common';
import { Authenticator } from './auth';

/** The caller's identity (HS256 secret or an identity provider's JWKS), for resolvers, graphql-ws and the console. */
@Module({ providers: [Authenticator], exports: [Authenticator] })
export class AuthModule {}

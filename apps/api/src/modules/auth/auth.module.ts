import { Module } from '@nestjs/common';
import { AuthController } from './auth.controller';
import { IdentityModule } from '../identity/identity.module';

@Module({ imports: [IdentityModule], controllers: [AuthController] })
export class AuthModule {}

import { Module } from '@nestjs/common';
import { AuthController } from './auth.controller';
import { RolesController } from './roles.controller';
import { IdentityModule } from '../identity/identity.module';

@Module({ imports: [IdentityModule], controllers: [AuthController, RolesController] })
export class AuthModule {}

import { Module } from '@nestjs/common';
import { BreakglassController } from './breakglass.controller';
import { BreakglassService } from './breakglass.service';
import { BrowserAuthController } from './browser-auth.controller';
import { IdentityController } from './identity.controller';
import { OidcProvidersService } from './oidc-providers.service';
import { OidcSignInService } from './oidc-sign-in.service';

/** People signing in through OpenID providers: provider admin, users, sessions, and the browser flows. */
@Module({
  controllers: [IdentityController, BrowserAuthController, BreakglassController],
  providers: [OidcProvidersService, OidcSignInService, BreakglassService],
  exports: [OidcProvidersService],
})
export class IdentityModule {}

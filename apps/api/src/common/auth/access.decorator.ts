import { SetMetadata } from '@nestjs/common';
import { ACCESS_METADATA } from '@certctl/observability';

/** The same key the shared health and metrics controllers use to mark themselves public. */
export const ACCESS_KEY = ACCESS_METADATA;

/** A route anyone may call without credentials (health, version, sign-in flows, CRL/OCSP). */
export const Public = () => SetMetadata(ACCESS_KEY, 'public');

import { SetMetadata } from '@nestjs/common';
import { ACCESS_METADATA } from '@certctl/observability';
import type { Access } from './principal';

/** The same key the shared health and metrics controllers use to mark themselves public. */
export const ACCESS_KEY = ACCESS_METADATA;

/** Declares what a route (or every route of a controller) needs; without it GET = read, others = write. */
export const RequireAccess = (access: Access) => SetMetadata(ACCESS_KEY, access);
export const Public = () => RequireAccess('public');

import type { INestApplication } from '@nestjs/common';
import { PATH_METADATA, METHOD_METADATA } from '@nestjs/common/constants';
import { RequestMethod } from '@nestjs/common';
import { ModulesContainer } from '@nestjs/core';
import { ACCESS_KEY } from './access.decorator';
import { PERMISSION_KEY, type PermissionRequirement } from './permission.decorator';

/** One route of the api as Nest serves it, with what it requires. */
export interface RouteEntry {
  method: string;
  /** The full path with `{param}` placeholders, as the OpenAPI document writes it. */
  path: string;
  controller: string;
  handler: string;
  /** `public` (no credentials), or the declared requirement; undefined when the route declares nothing. */
  requirement: 'public' | PermissionRequirement | undefined;
}

/** The /api/v1 prefix and the paths that stay outside it (the app factory's options). */
export interface PrefixOptions {
  prefix: string;
  exclude: Array<{ path: string; method: RequestMethod }>;
}

/**
 * Every route of the app's controllers, read from Nest's metadata (no request made, works on a preview app):
 * the source of docs/permissions.md and of the test that fails when a route declares no permission.
 */
export function routeTable(app: INestApplication, prefix: PrefixOptions): RouteEntry[] {
  const routes: RouteEntry[] = [];
  const seen = new Set<unknown>();
  for (const module of app.get(ModulesContainer).values()) {
    for (const wrapper of module.controllers.values()) {
      const controller = wrapper.metatype as (new (...args: never[]) => unknown) | null;
      if (!controller || seen.has(controller)) continue;
      seen.add(controller);
      const base = asArray(Reflect.getMetadata(PATH_METADATA, controller) as string | string[] | undefined);
      for (const name of methodNames(controller.prototype as object)) {
        const handler = (controller.prototype as Record<string, unknown>)[name] as object;
        const method = Reflect.getMetadata(METHOD_METADATA, handler) as RequestMethod | undefined;
        if (method === undefined) continue;
        const paths = asArray(Reflect.getMetadata(PATH_METADATA, handler) as string | string[] | undefined);
        for (const b of base) {
          for (const p of paths) {
            const local = [b, p].map((s) => s.replace(/^\/+|\/+$/g, '')).filter(Boolean).join('/');
            routes.push({
              method: RequestMethod[method],
              // `metrics{/}` (an optional trailing slash) is not the excluded `metrics`: Nest prefixes it, and so do we.
              path: openApiPath(prefixed(local, method, prefix).replace(/\{\/\}$/, '')),
              controller: controller.name,
              handler: name,
              requirement: requirementOf(handler, controller),
            });
          }
        }
      }
    }
  }
  return routes.sort((a, b) => a.path.localeCompare(b.path) || a.method.localeCompare(b.method));
}

function requirementOf(handler: object, controller: object): RouteEntry['requirement'] {
  const declared = (Reflect.getMetadata(PERMISSION_KEY, handler) ?? Reflect.getMetadata(PERMISSION_KEY, controller)) as PermissionRequirement | undefined;
  const access = (Reflect.getMetadata(ACCESS_KEY, handler) ?? Reflect.getMetadata(ACCESS_KEY, controller)) as string | undefined;
  if (access === 'public') return 'public';
  return declared;
}

/** Own and inherited method names (the CRUD base class declares its routes on a parent prototype). */
function methodNames(proto: object): string[] {
  const names = new Set<string>();
  for (let p: object | null = proto; p && p !== Object.prototype; p = Object.getPrototypeOf(p) as object | null) {
    for (const name of Object.getOwnPropertyNames(p)) if (name !== 'constructor') names.add(name);
  }
  return [...names];
}

function asArray(value: string | string[] | undefined): string[] {
  return value === undefined ? [''] : Array.isArray(value) ? value : [value];
}

function prefixed(local: string, method: RequestMethod, options: PrefixOptions): string {
  const excluded = options.exclude.some((e) => (e.method === RequestMethod.ALL || e.method === method) && pathMatches(e.path, local));
  return excluded ? `/${local}` : `/${options.prefix}${local ? `/${local}` : ''}`;
}

function pathMatches(pattern: string, path: string): boolean {
  const p = pattern.replace(/^\/+/, '');
  const wildcard = p.indexOf('*');
  return wildcard >= 0 ? path.startsWith(p.slice(0, wildcard)) : p === path;
}

/** `:id` → `{id}`, `*path` → `{path}`, as the OpenAPI document has them. */
function openApiPath(path: string): string {
  return path.replace(/:([A-Za-z0-9_]+)/g, '{$1}').replace(/\*([A-Za-z0-9_]+)/g, '{$1}');
}

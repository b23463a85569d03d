import { Body, Controller, Delete, Get, HttpCode, Inject, Param, Post, Put, Query, Type } from '@nestjs/common';
import { ApiBearerAuth, ApiTags } from '@nestjs/swagger';
import type { Permission } from '@certctl/contracts';
import { RequirePermission } from './auth/permission.decorator';
import type { Principal } from './auth/principal';
import type { Page } from './http/pagination';
import { CurrentPrincipal } from './http/request';
import { pageOf, Returns, Schema } from './openapi/response-schemas';

export interface CrudControllerOptions {
  path: string;
  tag: string;
  /** The service that owns the resource; it exposes `crud` and may wrap create/update with its own rules. */
  service: Type<CrudService>;
  createDto: Type;
  updateDto: Type;
  queryDto: Type;
  /** The response schema of one resource (from common/openapi/resources), documented on every route. */
  resource: Schema;
  /** certctl's permissions for the resource: list/get need `read`, create/update `edit`, delete `delete`. */
  permissions: { read: Permission; edit: Permission; delete: Permission };
  /** Routes on one resource are gated by its id as an issuer or profile scope (certctl's rbacGateScoped). */
  scope?: 'issuer' | 'profile';
  /**
   * Which routes a grant scoped to a team/issuer/profile reaches (the rest need a global grant): `list`, `read`
   * (list and get) or `all` (the service limits every read and write to the caller's scopes).
   */
  rows?: 'list' | 'read' | 'all';
  /** The list is reference data: a grant in any scope reaches it and it is answered whole (issuers, profiles). */
  referenceList?: boolean;
}

/** What a resource service offers the generic controller; `create`/`update` override the plain CRUD when present. */
/** The operations of a CrudResource, whatever its entity. */
export interface CrudOperations {
  list(query: object): Promise<Page<object>>;
  get(id: string): Promise<object>;
  create(actor: Principal, input: object): Promise<object>;
  update(actor: Principal, id: string, patch: object): Promise<object>;
  remove(actor: Principal, id: string): Promise<void>;
}

/** list/get/remove are overridden by resources whose rows are scoped to the caller's grants (e.g. targets). */
export interface CrudService {
  crud: CrudOperations;
  list?(actor: Principal, query: object): Promise<Page<object>>;
  get?(actor: Principal, id: string): Promise<object>;
  create?(actor: Principal, body: object): Promise<object>;
  update?(actor: Principal, id: string, body: object): Promise<object>;
  remove?(actor: Principal, id: string): Promise<void>;
}

/**
 * The five routes every inventory resource has (list, get, create, update, delete), as a base class. The
 * DTO classes are written into the parameter metadata, so the global ValidationPipe validates against them
 * and the OpenAPI document describes them, exactly as if each controller had declared them by hand.
 */
export function CrudController(o: CrudControllerOptions): Type {
  const rows = { scope: 'rows' as const };
  const scoped = o.scope ? { scope: { type: o.scope, param: 'id' } } : o.rows === 'read' || o.rows === 'all' ? rows : {};
  const listScope = o.referenceList ? { scope: 'reference' as const } : o.rows ? rows : {};
  const writeScope = o.scope ? scoped : o.rows === 'all' ? rows : {};
  @ApiTags(o.tag)
  @ApiBearerAuth()
  @Controller(o.path)
  class ResourceController {
    constructor(@Inject(o.service) readonly service: CrudService) {}

    @Get()
    @RequirePermission(o.permissions.read, listScope)
    list(@CurrentPrincipal() actor: Principal, @Query() query: object): Promise<Page<object>> {
      return this.service.list ? this.service.list(actor, query) : this.service.crud.list(query);
    }

    @Get(':id')
    @RequirePermission(o.permissions.read, scoped)
    get(@CurrentPrincipal() actor: Principal, @Param('id') id: string): Promise<object> {
      return this.service.get ? this.service.get(actor, id) : this.service.crud.get(id);
    }

    @Post()
    @RequirePermission(o.permissions.edit, o.rows === 'all' ? rows : {})
    create(@CurrentPrincipal() actor: Principal, @Body() body: object): Promise<object> {
      return this.service.create ? this.service.create(actor, body) : this.service.crud.create(actor, body);
    }

    @Put(':id')
    @RequirePermission(o.permissions.edit, writeScope)
    update(@CurrentPrincipal() actor: Principal, @Param('id') id: string, @Body() body: object): Promise<object> {
      return this.service.update ? this.service.update(actor, id, body) : this.service.crud.update(actor, id, body);
    }

    @Delete(':id')
    @HttpCode(204)
    @RequirePermission(o.permissions.delete, writeScope)
    remove(@CurrentPrincipal() actor: Principal, @Param('id') id: string): Promise<void> {
      return this.service.remove ? this.service.remove(actor, id) : this.service.crud.remove(actor, id);
    }
  }
  const proto = ResourceController.prototype;
  const document = (method: keyof ResourceController, schema: Schema, status = 200) =>
    Returns(schema, status)(proto, method, Object.getOwnPropertyDescriptor(proto, method)!);
  document('list', pageOf(o.resource));
  document('get', o.resource);
  document('create', o.resource, 201);
  document('update', o.resource);
  Reflect.defineMetadata('design:paramtypes', [Object, o.queryDto], proto, 'list');
  Reflect.defineMetadata('design:paramtypes', [Object, o.createDto], proto, 'create');
  Reflect.defineMetadata('design:paramtypes', [Object, String, o.updateDto], proto, 'update');
  return ResourceController;
}

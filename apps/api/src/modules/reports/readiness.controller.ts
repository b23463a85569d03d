import { Controller, Get, Query, Req, Res } from '@nestjs/common';
import { ApiBearerAuth, ApiProduces, ApiTags } from '@nestjs/swagger';
import type { Request, Response } from 'express';
import { component, int, objectOf, Returns, Schema, str } from '../../common/openapi/response-schemas';
import { ReadinessQuery } from './dto/readiness.dto';
import { LIFETIME_KEYS } from './readiness';
import { ReadinessService } from './readiness.service';
import { RequirePermission } from '../../common/auth/permission.decorator';

const num: Schema = { type: 'number' };
const nullable = (s: Schema): Schema => ({ ...s, nullable: true });
const perKey = objectOf(Object.fromEntries(LIFETIME_KEYS.map((k) => [k, num])));
const group = component('ReadinessGroup', objectOf({ id: nullable(str), name: nullable(str), certificates: int, renewals_per_week: perKey }));
const row = component('ReadinessCertificate', objectOf({
  certificate_id: str, name: str, common_name: str, status: str, team_id: nullable(str), issuer_id: str, issuer_name: str, issuer_type: str,
  current_lifetime_days: nullable(num), profile_max_days: nullable(num), renewal_window_days: int, lifetime_days: perKey, renewals_per_year: perKey,
  caa: objectOf({ status: { type: 'string', enum: ['allowed', 'forbidden', 'unknown', 'not_checked', 'not_applicable'] }, detail: str }, ['status']),
  deployment: objectOf({
    mode: { type: 'string', enum: ['automated', 'manual', 'no_targets'] }, targets: int,
    manual_targets: { type: 'array', items: objectOf({ id: str, name: str, type: str, reason: str }) },
  }),
}));
const report = component('ReadinessReport', objectOf({
  data: { type: 'array', items: row }, total: int, page: int, per_page: int, generated_at: { type: 'string', format: 'date-time' },
  steps: { type: 'array', items: objectOf({ key: str, effective: { type: 'string', format: 'date' }, max_days: int }) },
  totals: objectOf({ certificates: int, renewals_per_week: perKey }),
  by_team: { type: 'array', items: group }, by_issuer: { type: 'array', items: group },
}));

/** Reports over the inventory. */
@ApiTags('reports')
@ApiBearerAuth()
@Controller('reports')
export class ReadinessController {
  constructor(private readonly readiness: ReadinessService) {}

  /**
   * Readiness for SC-081's shorter lifetimes: per certificate its lifetime now and at each step, renewals a year,
   * CAA and whether its targets deploy without a person; per team and issuer the renewals a week. `format=csv` (or
   * `Accept: text/csv`) exports every matching certificate.
   */
  @Get('readiness')
  @ApiProduces('application/json', 'text/csv')
  @Returns(report)
  @RequirePermission('report.read')
  async readinessReport(@Query() query: ReadinessQuery, @Req() req: Request, @Res() res: Response): Promise<void> {
    const csv = query.format === 'csv' || (query.format === undefined && req.accepts(['application/json', 'text/csv']) === 'text/csv');
    res.vary('Accept');
    if (!csv) {
      res.json(await this.readiness.report(query));
      return;
    }
    const lines = this.readiness.csv(query);
    const first = await lines.next(); // filters checked (a 404 is still JSON) before the CSV headers go out
    res.setHeader('Content-Type', 'text/csv; charset=utf-8');
    res.setHeader('Content-Disposition', 'attachment; filename="readiness.csv"');
    if (!first.done) res.write(first.value);
    for await (const chunk of lines) res.write(chunk);
    res.end();
  }
}

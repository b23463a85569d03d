import { Type } from 'class-transformer';
import { IntField } from '../../../common/http/dto-fields';

/** certctl's `days` (default 30); outside 1..365 is a 400 naming the field, not silently replaced. */
export class StatsDaysQuery {
  @Type(() => Number)
  @IntField(1, 365, { optional: true, description: 'Days covered (default 30)' })
  days?: number;
}

/** certctl's CertificateStatusCount. */
export interface CertificateStatusCount {
  status: string;
  count: number;
}

/** certctl's ExpirationBucket: certificates expiring on one UTC day. */
export interface ExpirationBucket {
  date: string;
  count: number;
}

/** certctl's JobTrendDataPoint: jobs finished on one UTC day; success_rate in percent (0 on a day without any). */
export interface JobTrendDataPoint {
  date: string;
  completed_count: number;
  failed_count: number;
  success_rate: number;
}

/** certctl's IssuanceRateDataPoint: certificates issued (new versions) on one UTC day. */
export interface IssuanceRateDataPoint {
  date: string;
  issued_count: number;
}

import { JobStatus, JobType } from '@certctl/contracts';
import { EnumField, IdField, TextField } from '../../../common/http/dto-fields';
import { PageQuery } from '../../../common/http/pagination';

export class JobQuery extends PageQuery {
  @EnumField(Object.values(JobStatus), { optional: true }) status?: string;
  @EnumField(Object.values(JobType), { optional: true }) type?: string;
  @IdField({ optional: true }) certificate_id?: string;
  @IdField({ optional: true }) agent_id?: string;
  @IdField({ optional: true }) target_id?: string;
}

export class DecisionDto {
  @TextField({ optional: true, max: 2000 }) note?: string;
}

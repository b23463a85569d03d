import { AgentStatus } from '@certctl/contracts';
import { EnumField, IdField, NameField, TextField } from '../../../common/http/dto-fields';
import { SearchPageQuery } from '../../../common/http/list-query';

export class RegisterAgentDto {
  @IdField({ optional: true }) id?: string;
  @NameField() name: string;
  @TextField({ optional: true, max: 253 }) hostname?: string;
  @TextField({ optional: true, max: 64 }) os?: string;
  @TextField({ optional: true, max: 64 }) architecture?: string;
  @TextField({ optional: true, max: 64 }) ip_address?: string;
  @TextField({ optional: true, max: 64 }) version?: string;
}

export class HeartbeatDto {
  @TextField({ optional: true, max: 64 }) version?: string;
  @TextField({ optional: true, max: 253 }) hostname?: string;
  @TextField({ optional: true, max: 64 }) os?: string;
  @TextField({ optional: true, max: 64 }) architecture?: string;
  @TextField({ optional: true, max: 64 }) ip_address?: string;
}

export class AgentQuery extends SearchPageQuery {
  @EnumField(Object.values(AgentStatus), { optional: true }) status?: string;
}

export class SubmitCsrDto {
  @TextField({ max: 16_384, description: 'PEM PKCS#10 request for the certificate\'s names' }) csr_pem: string;
  @IdField() certificate_id: string;
}

export class JobStatusDto {
  @EnumField(['Running', 'Completed', 'Failed']) status: string;
  @TextField({ optional: true, max: 4000 }) error?: string;
}

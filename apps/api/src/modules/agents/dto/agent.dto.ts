import {
  AGENT_WORK_MAX_WAIT_SECONDS, AgentCsrSubmission, AgentHeartbeat, AgentStatus, AgentWorkQuery, DEPLOY_FAILED_STAGES, DEPLOY_ROLLBACK_OUTCOMES, DEPLOY_VERIFICATION_STATUSES,
  JOB_REPORT_STATUSES, JobStatusReport,
} from '@certctl/contracts';
import { Type } from 'class-transformer';
import { BoolField, EnumField, IdField, IntField, NameField, StringListField, TextField } from '../../../common/http/dto-fields';
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

export class HeartbeatDto implements AgentHeartbeat {
  @TextField({ optional: true, max: 64 }) version?: string;
  @TextField({ optional: true, max: 253 }) hostname?: string;
  @TextField({ optional: true, max: 64 }) os?: string;
  @TextField({ optional: true, max: 64 }) architecture?: string;
  @TextField({ optional: true, max: 64 }) ip_address?: string;
}

export class AgentQuery extends SearchPageQuery {
  @EnumField(Object.values(AgentStatus), { optional: true }) status?: string;
}

export class SubmitCsrDto implements AgentCsrSubmission {
  @TextField({ max: 16_384, description: 'PEM PKCS#10 request for the certificate\'s names' }) csr_pem: string;
  @IdField() certificate_id: string;
}

export class AgentWorkQueryDto implements AgentWorkQuery {
  @EnumField(['true', 'false'], { optional: true, description: 'true: the agent has just started (or lost the last answer): hand out its Running deployments again' })
  resume?: 'true' | 'false';

  @Type(() => Number)
  @IntField(0, AGENT_WORK_MAX_WAIT_SECONDS, {
    optional: true,
    description: 'Long-poll: with no work now, hold the request up to this many seconds and answer as soon as work appears (0: answer at once)',
  })
  wait?: number;
}

export class JobStatusDto implements JobStatusReport {
  @EnumField(JOB_REPORT_STATUSES) status: JobStatusReport['status'];
  @TextField({ optional: true, max: 4000 }) error?: string;
  // A deployment's result, as the orchestrator records its own (they feed the certctl_deploy_* counters).
  @BoolField({ optional: true, description: 'Deployment: every file already held the same bytes (nothing validated or reloaded)' })
  skipped_as_idempotent?: boolean;
  @EnumField(DEPLOY_FAILED_STAGES, { optional: true, description: 'Deployment: the step that failed' })
  failed_stage?: JobStatusReport['failed_stage'];
  @EnumField(DEPLOY_ROLLBACK_OUTCOMES, { optional: true, description: 'Deployment: what the rollback after a failed reload or verification did' })
  rollback?: JobStatusReport['rollback'];
  @StringListField({ optional: true, maxItems: 50, max: 4096, description: 'Deployment: backup files left on the host' })
  backup_paths?: string[];
  @EnumField(DEPLOY_VERIFICATION_STATUSES, { optional: true, description: 'Post-deploy TLS verification' })
  verification_status?: JobStatusReport['verification_status'];
  @TextField({ optional: true, max: 128, description: 'SHA-256 of the leaf the endpoint served' })
  verification_fingerprint?: string;
  @TextField({ optional: true, max: 4000 }) verification_error?: string;
}

/** certctl's retire options: `force=true` cascades to the agent's targets and open jobs, and needs a `reason`. */
export class RetireAgentQuery {
  @EnumField(['true', 'false'], { optional: true }) force?: string;
  @TextField({ optional: true, max: 1000 }) reason?: string;
}

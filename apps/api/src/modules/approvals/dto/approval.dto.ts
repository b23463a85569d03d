import { EnumField, TextField } from '../../../common/http/dto-fields';
import { PageQuery } from '../../../common/http/pagination';

export const APPROVAL_STATES = ['pending', 'approved', 'rejected', 'expired'] as const;
export const APPROVAL_KINDS = ['cert_issuance', 'profile_edit'] as const;
export type ApprovalState = (typeof APPROVAL_STATES)[number];
export type ApprovalKind = (typeof APPROVAL_KINDS)[number];

export class ApprovalQuery extends PageQuery {
  @EnumField([...APPROVAL_STATES], { optional: true }) state?: ApprovalState;
  @EnumField([...APPROVAL_KINDS], { optional: true }) approval_kind?: ApprovalKind;
}

export class ApprovalDecisionDto {
  @TextField({ optional: true, max: 2000, description: 'Why: kept on the request, and on the job a rejection ends' }) note?: string;
}

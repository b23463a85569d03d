import { IdField, IntField, NameField, ObjectField, TextField } from '../../../common/http/dto-fields';

export class CreateIntermediateDto {
  @NameField() name: string;
  @TextField({ optional: true, max: 64, singleLine: true, description: 'Subject CN; defaults to the name' }) common_name?: string;
  @IdField({ optional: true, description: 'Parent intermediate of the same issuer; the issuer root when absent' }) parent_ca_id?: string;
  @IntField(0, 10, { optional: true, description: "Defaults to the parent's minus one (unlimited under an unlimited parent)" }) path_len_constraint?: number;
  @ObjectField({ optional: true, description: '{permitted_dns_domains: string[], excluded_dns_domains: string[]}' }) name_constraints?: Record<string, unknown>;
  @IntField(1, 7300, { optional: true, description: 'Days; capped at the parent’s end (default 1825)' }) validity_days?: number;
  @TextField({ optional: true, max: 500 }) ocsp_responder_url?: string;
}

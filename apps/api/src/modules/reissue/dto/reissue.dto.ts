import { REVOCATION_REASONS, RevocationReason } from '@certctl/pki';
import { BoolField, EnumField, TextField } from '../../../common/http/dto-fields';

const REASON_NAMES = Object.keys(REVOCATION_REASONS);

/** POST /issuers/{id}/reissue: re-issue every active certificate of an issuer or of one of its intermediate CAs. */
export class ReissueDrillDto {
  @TextField({ max: 500, description: 'Why (recorded in the drill and its audit events). Required.' }) reason: string;

  @BoolField({ optional: true, description: 'Only count and list the certificates affected; change nothing' }) dry_run?: boolean;

  @EnumField(REASON_NAMES, {
    optional: true,
    description: 'RFC 5280 reason the old serials are revoked with once their replacement is served; defaults to `reason` when that is a reason name, else superseded',
  })
  revocation_reason?: RevocationReason;

  @BoolField({
    optional: true,
    description: 'Revoke each old serial once its replacement is served (default true). false: a plain "renew early" of the issuer — every certificate is renewed (ACME-client ones asked through ARI) and nothing is revoked',
  })
  revoke_old?: boolean;
}

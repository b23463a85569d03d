import { MigrationInterface, QueryRunner } from 'typeorm';

/** certctl names the Kubernetes target type `KubernetesSecrets`; rows stored under our old spelling follow. */
export class KubernetesSecretsTargetType1764900000000 implements MigrationInterface {
  name = 'KubernetesSecretsTargetType1764900000000';

  async up(q: QueryRunner): Promise<void> {
    await q.query(`UPDATE deployment_targets SET type = 'KubernetesSecrets' WHERE type = 'KubernetesSecret'`);
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query(`UPDATE deployment_targets SET type = 'KubernetesSecret' WHERE type = 'KubernetesSecrets'`);
  }
}

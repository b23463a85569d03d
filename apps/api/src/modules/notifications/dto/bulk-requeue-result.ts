/** certctl's partial-success envelope, for the bulk requeue. */
export interface BulkRequeueResult {
  total_matched: number;
  total_requeued: number;
  total_skipped: number;
  notification_ids: string[];
}

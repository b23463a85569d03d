import { z } from 'zod';

/**
 * Shapes shared by several tools' input and output schemas. Outputs are loose objects (a raw shape would become
 * `additionalProperties: false`, which clients enforce): the api may add fields without breaking a tool.
 */
export const pageInput = {
  page: z.number().int().min(1).optional().describe('page number, from 1'),
  per_page: z.number().int().min(1).max(500).optional().describe('rows per page (default 50, max 500)'),
};

export const id = (what: string) => z.string().min(1).max(128).describe(`the ${what} id`);

export const pageOutput = (item: z.ZodObject) => z.looseObject({
  data: z.array(item),
  total: z.number(),
  page: z.number().optional(),
  per_page: z.number().optional(),
});

export const certificateOutput = z.looseObject({
  id: z.string(),
  name: z.string(),
  common_name: z.string(),
  status: z.string(),
  expires_at: z.string().nullish(),
});

export const notificationOutput = z.looseObject({
  id: z.string(),
  type: z.string(),
  channel: z.string(),
  status: z.string(),
  retry_count: z.number().optional(),
  last_error: z.string().nullish(),
});

export const jobOutput = z.looseObject({
  id: z.string(),
  type: z.string(),
  certificate_id: z.string(),
  status: z.string(),
  last_error: z.string().nullish(),
});

export const scanOutput = z.looseObject({
  id: z.string(),
  status: z.string(),
  addresses_total: z.number().optional(),
  addresses_done: z.number().optional(),
  certificates_found: z.number().optional(),
  progress_percent: z.number().optional(),
});

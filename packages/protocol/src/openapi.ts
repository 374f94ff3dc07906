import type { TSchema } from '@sinclair/typebox';
import { ErrorBody } from './error.js';

/** One route of an HTTP API, with the schemas it validates with and answers in. */
export interface ApiOperation {
  readonly method: 'get' | 'post' | 'patch' | 'delete';
  /** With path parameters in braces: `/api/rows/{table}/{id}`. */
  readonly path: string;
  readonly summary: string;
  /** Answered without credentials (only meaningful when the API has `bearer`). @defaultValue false */
  readonly public?: boolean;
  readonly body?: TSchema;
  readonly query?: TSchema;
  readonly response?: TSchema;
  /** @defaultValue 200 */
  readonly status?: number;
}

/** What {@link openApiDocument} describes. */
export interface ApiDescription {
  readonly title: string;
  readonly version: string;
  readonly description: string;
  /** Whether callers send a bearer token (operations marked `public` excepted). */
  readonly bearer: boolean;
  readonly operations: readonly ApiOperation[];
}

/**
 * An HTTP API as an OpenAPI 3.1 document, made from the same TypeBox schemas its routes validate with;
 * every refusal is `{"error": {"code", "message"}}` ({@link ErrorBody}).
 */
export function openApiDocument(api: ApiDescription): Record<string, unknown> {
  const paths: Record<string, Record<string, unknown>> = {};
  for (const operation of api.operations) {
    const responses: Record<string, unknown> = {
      [String(operation.status ?? 200)]: operation.response
        ? { description: 'success', content: { 'application/json': { schema: plain(operation.response) } } }
        : { description: 'success' },
      '4XX': {
        description: 'the request was refused',
        content: { 'application/json': { schema: plain(ErrorBody) } },
      },
    };
    const parameters = [
      ...[...operation.path.matchAll(/\{(\w+)\}/g)].map(([, name]) => ({
        name,
        in: 'path',
        required: true,
        schema: { type: 'string' },
      })),
      ...Object.entries((operation.query?.properties ?? {}) as Record<string, TSchema>).map(
        ([name, schema]) => ({
          name,
          in: 'query',
          required: false,
          schema: plain(schema),
        }),
      ),
    ];
    (paths[operation.path] ??= {})[operation.method] = {
      summary: operation.summary,
      ...(api.bearer && operation.public ? { security: [] } : {}),
      ...(parameters.length > 0 ? { parameters } : {}),
      ...(operation.body
        ? {
            requestBody: {
              required: true,
              content: { 'application/json': { schema: plain(operation.body) } },
            },
          }
        : {}),
      responses,
    };
  }
  return {
    openapi: '3.1.0',
    info: { title: api.title, version: api.version, description: api.description },
    ...(api.bearer
      ? {
          components: { securitySchemes: { bearer: { type: 'http', scheme: 'bearer' } } },
          security: [{ bearer: [] }],
        }
      : {}),
    paths,
  };
}

/** A TypeBox schema as plain JSON Schema (without TypeBox's symbol keys). */
function plain(schema: TSchema): unknown {
  return JSON.parse(JSON.stringify(schema)) as unknown;
}

import type { Static, TSchema } from '@sinclair/typebox';
import { Value } from '@sinclair/typebox/value';
import type { ApiOperation, Immutable } from '@tillsync/protocol';
import { ApiError } from './api-error.js';

/*
 * A route of the device agent's API (device-api.ts) described by its schemas: the request it takes is
 * checked against them before its handler runs, its answer is typed by them, and the OpenAPI document lists
 * it from the same description.
 */

/** A request as a route's handler gets it: the body and query, each valid by the route's schema. */
export interface RouteInput<Body extends TSchema | undefined, Query extends TSchema | undefined> {
  readonly body: Body extends TSchema ? Static<Body> : undefined;
  readonly query: Query extends TSchema ? Static<Query> : undefined;
}

/** One route: its description (the OpenAPI document's too) and its handler, which answers its response type. */
export interface RouteSpec<
  Body extends TSchema | undefined,
  Query extends TSchema | undefined,
  Answer extends TSchema,
> {
  readonly method: 'GET' | 'POST';
  readonly path: string;
  readonly summary: string;
  readonly body?: Body;
  readonly query?: Query;
  readonly response: Answer;
  /** The refusal of a field that is present but not valid, by field name ("must be a string" otherwise). */
  readonly messages?: Readonly<Record<string, string>>;
  handle(input: RouteInput<Body, Query>): Promise<Immutable<Static<Answer>>>;
}

/** A route with its types checked and erased, as the dispatch holds it. */
export interface Route {
  readonly operation: ApiOperation;
  handle(request: { readonly url: URL; readonly body: unknown }): Promise<unknown>;
}

/** A route from its description: its request checked against its schemas, its answer typed by them. */
export function route<
  Answer extends TSchema,
  Body extends TSchema | undefined = undefined,
  Query extends TSchema | undefined = undefined,
>(spec: RouteSpec<Body, Query, Answer>): Route {
  const { body: bodySchema, query: querySchema, messages = {} } = spec;
  return {
    operation: {
      method: spec.method === 'GET' ? 'get' : 'post',
      path: spec.path,
      summary: spec.summary,
      response: spec.response,
      ...(bodySchema ? { body: bodySchema } : {}),
      ...(querySchema ? { query: querySchema } : {}),
    },
    handle: ({ url, body }) =>
      spec.handle({
        body: (bodySchema ? validBody(bodySchema, body, messages) : undefined) as RouteInput<
          Body,
          Query
        >['body'],
        query: (querySchema
          ? validBody(querySchema, firstValues(url.searchParams), messages)
          : undefined) as RouteInput<Body, Query>['query'],
      }),
  };
}

/**
 * A body (or query) checked against its schema, or a `400 INVALID_REQUEST` saying what is wrong: not an
 * object, an unknown field, a field of the wrong type, or a field the schema refuses (its message from
 * `messages`). Fields are judged in the body's order, so the first wrong one is named.
 */
function validBody<S extends TSchema>(
  schema: S,
  body: unknown,
  messages: Readonly<Record<string, string>>,
): Static<S> {
  if (typeof body !== 'object' || body === null || Array.isArray(body)) {
    throw new ApiError(400, 'INVALID_REQUEST', 'the body must be a JSON object');
  }
  const fields = (schema.properties ?? {}) as Record<string, TSchema>;
  const closed = schema.additionalProperties === false;
  for (const [name, value] of Object.entries(body as Record<string, unknown>)) {
    const field = fields[name];
    if (field === undefined) {
      if (!closed) continue;
      throw new ApiError(
        400,
        'INVALID_REQUEST',
        `unknown field "${name}"; expected ${Object.keys(fields).join(', ')}`,
      );
    }
    const type = primitiveTypeOf(field);
    if (value !== null && value !== undefined && type !== null && typeof value !== type) {
      throw new ApiError(400, 'INVALID_REQUEST', `"${name}" must be a ${type}`);
    }
  }
  if (Value.Check(schema, body)) return body;
  const [error] = Value.Errors(schema, body);
  const name = error?.path.split('/')[1] ?? '';
  throw new ApiError(400, 'INVALID_REQUEST', messages[name] ?? `"${name}" is not valid`);
}

/** The JSON type a field's schema takes besides null (`string`, `boolean`, …), or null for another kind. */
function primitiveTypeOf(field: TSchema): string | null {
  const types = ((field.anyOf as TSchema[] | undefined) ?? [field])
    .map((branch) => branch.type as unknown)
    .filter((type) => type !== 'null');
  const [type] = types;
  return types.length === 1 && (type === 'string' || type === 'boolean') ? type : null;
}

/** A query as an object, each name with its first value (as `URLSearchParams.get` reads it). */
function firstValues(params: URLSearchParams): Record<string, string> {
  const values: Record<string, string> = {};
  for (const [name, value] of params) values[name] ??= value;
  return values;
}

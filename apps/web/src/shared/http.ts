/**
 * JSON over HTTP for both pages. Every Tillsync API answers errors as `{"error": {"code", "message"}}`
 * (PROTOCOL.md §2); {@link HttpError} carries them so a screen can show the message as it is.
 */

/** A call that was answered with an error, or not answered at all (`status` 0). */
export class HttpError extends Error {
  override readonly name = 'HttpError';
  readonly status: number;
  readonly code: string;

  constructor(status: number, code: string, message: string) {
    super(message);
    this.status = status;
    this.code = code;
  }
}

/** What {@link requestJson} sends. */
export interface JsonRequest {
  readonly method?: 'GET' | 'POST' | 'PATCH' | 'PUT' | 'DELETE';
  readonly body?: unknown;
  /** An owner's session token, sent as `Authorization: Bearer …`. */
  readonly token?: string | null;
  readonly signal?: AbortSignal;
}

/** Calls a JSON endpoint; resolves to its body (undefined for 204) or throws an {@link HttpError}. */
export async function requestJson<T>(url: string, request: JsonRequest = {}): Promise<T> {
  const headers: Record<string, string> = { accept: 'application/json' };
  if (request.body !== undefined) headers['content-type'] = 'application/json';
  if (request.token) headers.authorization = `Bearer ${request.token}`;
  let response: Response;
  try {
    response = await fetch(url, {
      method: request.method ?? 'GET',
      headers,
      ...(request.body !== undefined ? { body: JSON.stringify(request.body) } : {}),
      ...(request.signal ? { signal: request.signal } : {}),
    });
  } catch (error) {
    if (error instanceof DOMException && error.name === 'AbortError') throw error;
    throw new HttpError(0, 'UNREACHABLE', 'Cannot reach the server. Check that it is running.');
  }
  if (response.status === 204) return undefined as T;
  const text = await response.text();
  const body: unknown = text === '' ? undefined : parseJson(text);
  if (!response.ok) {
    const error = errorOf(body);
    throw new HttpError(
      response.status,
      error?.code ?? `HTTP_${response.status}`,
      error?.message ?? `The server answered ${response.status}.`,
    );
  }
  return body as T;
}

/** The message of any error, for showing to a person. */
export function messageOf(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

function parseJson(text: string): unknown {
  try {
    return JSON.parse(text) as unknown;
  } catch {
    return undefined;
  }
}

function errorOf(body: unknown): { code: string; message: string } | null {
  if (typeof body !== 'object' || body === null || !('error' in body)) return null;
  const { error } = body;
  if (typeof error !== 'object' || error === null) return null;
  const { code, message } = error as { code?: unknown; message?: unknown };
  return typeof code === 'string' && typeof message === 'string' ? { code, message } : null;
}

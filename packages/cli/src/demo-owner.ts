import type { CreatedStore, LoginResponse, PairingCodeResponse, StoreList } from '@tillsync/protocol';

/**
 * The demo's owner, calling the server's owner API over HTTP as the dashboard does (PROTOCOL.md §2 and
 * §7): the demo sets up its stores and pairs its devices through the same doors a shop would.
 */
export class OwnerCalls {
  readonly #serverUrl: string;
  readonly #token: string;

  private constructor(serverUrl: string, token: string) {
    this.#serverUrl = serverUrl;
    this.#token = token;
  }

  /** Signs the owner in. */
  static async login(serverUrl: string, owner: { email: string; password: string }): Promise<OwnerCalls> {
    const answer = await call<LoginResponse>(serverUrl, 'POST', '/api/auth/login', null, owner);
    return new OwnerCalls(serverUrl, answer.token);
  }

  /** The tenant's stores, the first (the tenant's own) first. */
  stores(): Promise<StoreList> {
    return call(this.#serverUrl, 'GET', '/api/stores', this.#token);
  }

  createStore(name: string): Promise<CreatedStore> {
    return call(this.#serverUrl, 'POST', '/api/stores', this.#token, { name });
  }

  /** A one-time pairing code for a device of `storeId`, or of the tenant's first store. */
  async pairingCode(storeId?: string): Promise<string> {
    const body = storeId === undefined ? {} : { storeId };
    return (await call<PairingCodeResponse>(this.#serverUrl, 'POST', '/api/pairing-codes', this.#token, body))
      .code;
  }
}

async function call<T>(
  serverUrl: string,
  method: 'GET' | 'POST',
  path: string,
  token: string | null,
  body?: unknown,
): Promise<T> {
  const response = await fetch(`${serverUrl}${path}`, {
    method,
    headers: {
      ...(body === undefined ? {} : { 'content-type': 'application/json' }),
      ...(token === null ? {} : { authorization: `Bearer ${token}` }),
    },
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
  });
  const text = await response.text();
  if (!response.ok)
    throw new Error(`the demo's server answered ${method} ${path} with ${response.status}: ${text}`);
  return JSON.parse(text) as T;
}

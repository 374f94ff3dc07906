import type {
  ConflictList,
  DemoCloudState,
  DeviceInfo,
  DeviceList,
  EnqueueSyncJobRequest,
  LoginResponse,
  PairingCodeResponse,
  SyncJob,
  SyncJobList,
  SyncJobStatus,
  SyncJobTypeInfo,
  SyncJobTypeList,
  SyncJobTypePatch,
  CreatedStore,
  StoreList,
  SyncSchema,
} from '@tillsync/protocol';
import { requestJson } from '../shared/http.js';

/**
 * The owner's API of the server that served this page (PROTOCOL.md §2 and §6, and `GET /api/conflicts`).
 * Only the wire types come from `@tillsync/protocol`, as types: the page talks HTTP only.
 */
export class OwnerApi {
  readonly #token: string;

  constructor(token: string) {
    this.#token = token;
  }

  static login(email: string, password: string): Promise<LoginResponse> {
    return requestJson('/api/auth/login', { method: 'POST', body: { email, password } });
  }

  logout(): Promise<void> {
    return this.#call('/api/auth/logout', 'POST');
  }

  devices(): Promise<DeviceList> {
    return this.#call('/api/devices');
  }

  /** The schema the server serves: the devices panel compares each device's version with its `version`. */
  schema(): Promise<SyncSchema> {
    return this.#call('/api/sync/schema');
  }

  revokeDevice(id: string): Promise<void> {
    return this.#call(`/api/devices/${encodeURIComponent(id)}/revoke`, 'POST');
  }

  /** A one-time pairing code; a device paired with it joins `storeId`, or the tenant's first store. */
  createPairingCode(storeId?: string): Promise<PairingCodeResponse> {
    return this.#call('/api/pairing-codes', 'POST', storeId === undefined ? {} : { storeId });
  }

  stores(): Promise<StoreList> {
    return this.#call('/api/stores');
  }

  createStore(name: string): Promise<CreatedStore> {
    return this.#call('/api/stores', 'POST', { name });
  }

  /** Moves a device to another store: it drops the old store's rows and takes the new store's. */
  moveDevice(id: string, storeId: string): Promise<DeviceInfo> {
    return this.#call(`/api/devices/${encodeURIComponent(id)}/store`, 'POST', { storeId });
  }

  jobTypes(): Promise<SyncJobTypeList> {
    return this.#call('/api/sync-job-types');
  }

  updateJobType(name: string, patch: SyncJobTypePatch): Promise<SyncJobTypeInfo> {
    return this.#call(`/api/sync-job-types/${encodeURIComponent(name)}`, 'PATCH', patch);
  }

  jobs(filter: { status?: SyncJobStatus | ''; type?: string; limit?: number }): Promise<SyncJobList> {
    const query = new URLSearchParams();
    if (filter.status) query.set('status', filter.status);
    if (filter.type) query.set('type', filter.type);
    query.set('limit', String(filter.limit ?? 100));
    return this.#call(`/api/sync-jobs?${query.toString()}`);
  }

  job(id: string): Promise<SyncJob> {
    return this.#call(`/api/sync-jobs/${encodeURIComponent(id)}`);
  }

  enqueueJob(request: EnqueueSyncJobRequest): Promise<SyncJob> {
    return this.#call('/api/sync-jobs', 'POST', request);
  }

  startJob(id: string): Promise<SyncJob> {
    return this.#call(`/api/sync-jobs/${encodeURIComponent(id)}/start`, 'POST');
  }

  cancelJob(id: string, reason: string): Promise<SyncJob> {
    return this.#call(`/api/sync-jobs/${encodeURIComponent(id)}/cancel`, 'POST', reason ? { reason } : {});
  }

  retryJob(id: string): Promise<SyncJob> {
    return this.#call(`/api/sync-jobs/${encodeURIComponent(id)}/retry`, 'POST');
  }

  conflicts(filter: { table?: string; id?: string; limit?: number }): Promise<ConflictList> {
    const query = new URLSearchParams();
    if (filter.table) query.set('table', filter.table);
    if (filter.id) query.set('id', filter.id);
    query.set('limit', String(filter.limit ?? 100));
    return this.#call(`/api/conflicts?${query.toString()}`);
  }

  /** The demo's cloud switch: whether its devices reach the cloud, and whether this server has the switch. */
  demoCloud(): Promise<DemoCloudState> {
    return this.#call('/api/demo/cloud');
  }

  setDemoCloud(online: boolean): Promise<DemoCloudState> {
    return this.#call('/api/demo/cloud', 'PUT', { online });
  }

  #call<T>(url: string, method: 'GET' | 'POST' | 'PATCH' | 'PUT' = 'GET', body?: unknown): Promise<T> {
    return requestJson<T>(url, { method, token: this.#token, ...(body !== undefined ? { body } : {}) });
  }
}

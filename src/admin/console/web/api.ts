// The console's calls to the admin API: same-origin cookies, JSON, and the session's CSRF token on every state change.

export class ApiError extends Error {
  constructor(readonly status: number, message: string) {
    super(message);
  }
}

export interface Api {
  get<T>(path: string): Promise<T>;
  post<T>(path: string, body?: unknown): Promise<T>;
  setCsrf(token: string): void;
}

/** `onSignedOut` runs when the server says the session is gone (401), so the app can show the sign-in page. */
export function createApi(onSignedOut: (message: string) => void): Api {
  let csrf = '';
  async function call<T>(method: 'GET' | 'POST', path: string, body?: unknown): Promise<T> {
    let res: Response;
    try {
      res = await fetch(path, {
        method,
        credentials: 'same-origin',
        cache: 'no-store',
        headers: method === 'POST' ? { 'content-type': 'application/json', 'x-csrf-token': csrf } : {},
        body: method === 'POST' ? JSON.stringify(body ?? {}) : undefined,
      });
    } catch {
      throw new ApiError(0, 'The gateway cannot be reached. Is it still running?');
    }
    const payload = (await res.json().catch(() => ({}))) as T & { error?: string };
    if (!res.ok) {
      const message = payload.error ?? `${res.status} ${res.statusText}`;
      if (res.status === 401 && path !== '/v1/console/login') onSignedOut('Your console session has ended. Sign in again to continue.');
      throw new ApiError(res.status, message);
    }
    return payload;
  }
  return {
    get: (path) => call('GET', path),
    post: (path, body) => call('POST', path, body),
    setCsrf: (token) => { csrf = token; },
  };
}

// A fetch that retries transient Hub failures (5xx, 429, dropped connections) with exponential
// backoff, and never retries a refusal (4xx). Responses are read in full before they are handed
// back, so that a connection dropped in the middle of a body is retried too.

export interface RetryEvent {
  attempt: number; // the attempt that failed, 1-based
  retriesLeft: number;
  delayMs: number;
  method: string;
  /** URL without its query string (upload URLs carry signatures). */
  url: string;
  reason: string;
}

export interface RetryingFetchParams {
  fetch?: typeof fetch;
  /** Retries after the first attempt (default 5). */
  retries?: number;
  /** First delay; doubles each retry (default 500 ms). */
  baseDelayMs?: number;
  maxDelayMs?: number;
  sleep?: (ms: number) => Promise<void>;
  onRetry?: (event: RetryEvent) => void;
}

export interface RetryStats {
  retries: number;
}

const RETRY_STATUS = new Set([408, 429, 500, 502, 503, 504]);

export function isRetryableStatus(status: number): boolean {
  return RETRY_STATUS.has(status) || status >= 500;
}

function urlOf(input: RequestInfo | URL): string {
  const raw = typeof input === "string" ? input : input instanceof URL ? input.href : input.url;
  return raw.split("?")[0];
}

export function backoffDelay(attempt: number, baseDelayMs: number, maxDelayMs: number): number {
  return Math.min(maxDelayMs, baseDelayMs * 2 ** (attempt - 1));
}

function isAbort(err: unknown, signal?: AbortSignal | null): boolean {
  return Boolean(signal?.aborted) || (err as Error)?.name === "AbortError";
}

export function createRetryingFetch(params: RetryingFetchParams = {}): typeof fetch & { stats: RetryStats } {
  const baseFetch = params.fetch ?? fetch;
  const retries = params.retries ?? 5;
  const baseDelayMs = params.baseDelayMs ?? 500;
  const maxDelayMs = params.maxDelayMs ?? 30_000;
  const sleep = params.sleep ?? ((ms: number) => new Promise<void>((r) => setTimeout(r, ms)));
  const stats: RetryStats = { retries: 0 };

  const retrying = async (input: RequestInfo | URL, init?: RequestInit): Promise<Response> => {
    const method = (init?.method ?? "GET").toUpperCase();
    const url = urlOf(input);
    const body = init?.body;
    if (body instanceof ReadableStream) {
      // A stream can be sent only once: no retry possible.
      return baseFetch(input, init);
    }
    for (let attempt = 1; attempt <= retries + 1; attempt++) {
      let reason: string;
      try {
        const res = await baseFetch(input, init);
        if (!isRetryableStatus(res.status) || attempt > retries) {
          // Buffer the body so that a connection dropped mid-body is seen here, not by the caller.
          const data = await res.arrayBuffer();
          const copy = new Response(res.status === 204 || res.status === 304 ? null : data, {
            status: res.status,
            statusText: res.statusText,
            headers: res.headers,
          });
          Object.defineProperty(copy, "url", { value: res.url || url });
          return copy;
        }
        reason = `HTTP ${res.status}`;
        await res.body?.cancel().catch(() => {});
      } catch (err) {
        if (isAbort(err, init?.signal)) throw err;
        if (attempt > retries) throw err;
        reason = ((err as Error)?.message || String(err)).replace(/\. For more information, pass `verbose: true`.*$/s, "");
      }
      const delayMs = backoffDelay(attempt, baseDelayMs, maxDelayMs);
      stats.retries++;
      params.onRetry?.({ attempt, retriesLeft: retries + 1 - attempt, delayMs, method, url, reason });
      await sleep(delayMs);
      if (init?.signal?.aborted) throw new DOMException("Aborted", "AbortError");
    }
    throw new Error("unreachable: retry loop ended");
  };
  return Object.assign(retrying as typeof fetch, { stats });
}

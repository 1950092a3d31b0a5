import { describe, expect, test } from "bun:test";
import { backoffDelay, createRetryingFetch, type RetryEvent } from "./retry.ts";

function scripted(answers: (() => Response | Promise<Response>)[]) {
  let i = 0;
  const calls: string[] = [];
  const f = (async (input: RequestInfo | URL, init?: RequestInit) => {
    calls.push(`${init?.method ?? "GET"} ${String(input)}`);
    const a = answers[Math.min(i++, answers.length - 1)];
    return a();
  }) as typeof fetch;
  return { f, calls };
}

describe("createRetryingFetch", () => {
  test("retries 5xx and dropped connections with exponential backoff, then returns the answer", async () => {
    const { f, calls } = scripted([
      () => new Response("x", { status: 500 }),
      () => { throw new Error("ECONNRESET: The socket connection was closed unexpectedly"); },
      () => new Response("busy", { status: 503 }),
      () => new Response(JSON.stringify({ ok: 1 }), { status: 200, headers: { "content-type": "application/json" } }),
    ]);
    const slept: number[] = [];
    const events: RetryEvent[] = [];
    const rf = createRetryingFetch({ fetch: f, retries: 5, baseDelayMs: 100, sleep: async (ms) => void slept.push(ms), onRetry: (e) => void events.push(e) });
    const res = await rf("http://hub/api/x?sig=secret", { method: "POST", body: "b" });
    expect(res.status).toBe(200);
    expect(await res.json()).toEqual({ ok: 1 });
    expect(calls).toHaveLength(4);
    expect(slept).toEqual([100, 200, 400]);
    expect(events.map((e) => e.reason)).toEqual(["HTTP 500", "ECONNRESET: The socket connection was closed unexpectedly", "HTTP 503"]);
    expect(events[0].url).toBe("http://hub/api/x"); // no query (signatures) in messages
    expect(rf.stats.retries).toBe(3);
  });

  test("401/403/404 are returned at once, never retried", async () => {
    for (const status of [401, 403, 404, 409]) {
      const { f, calls } = scripted([() => new Response("no", { status })]);
      const slept: number[] = [];
      const rf = createRetryingFetch({ fetch: f, sleep: async (ms) => void slept.push(ms) });
      expect((await rf("http://hub/x")).status).toBe(status);
      expect(calls).toHaveLength(1);
      expect(slept).toEqual([]);
    }
  });

  test("gives up after the retries: the last 5xx answer is returned, a network error thrown", async () => {
    const a = scripted([() => new Response("down", { status: 502 })]);
    const rf = createRetryingFetch({ fetch: a.f, retries: 2, baseDelayMs: 1, sleep: async () => {} });
    const res = await rf("http://hub/x");
    expect(res.status).toBe(502);
    expect(await res.text()).toBe("down");
    expect(a.calls).toHaveLength(3);
    const b = scripted([() => { throw new Error("ECONNREFUSED"); }]);
    const rf2 = createRetryingFetch({ fetch: b.f, retries: 1, baseDelayMs: 1, sleep: async () => {} });
    await expect(rf2("http://hub/x")).rejects.toThrow("ECONNREFUSED");
    expect(b.calls).toHaveLength(2);
  });

  test("a body cut in the middle is retried (the response is read before it is returned)", async () => {
    let n = 0;
    const f = (async () => {
      n++;
      if (n === 1) {
        return new Response(new ReadableStream({ start(c) { c.enqueue(new TextEncoder().encode('{"a"')); c.error(new Error("socket closed")); } }), { status: 200 });
      }
      return new Response('{"a":1}', { status: 200 });
    }) as unknown as typeof fetch;
    const rf = createRetryingFetch({ fetch: f, sleep: async () => {} });
    expect(await (await rf("http://hub/x")).json()).toEqual({ a: 1 });
    expect(n).toBe(2);
  });

  test("an aborted request is not retried", async () => {
    const ac = new AbortController();
    ac.abort();
    const f = (async () => { throw new DOMException("Aborted", "AbortError"); }) as unknown as typeof fetch;
    const rf = createRetryingFetch({ fetch: f, sleep: async () => {} });
    await expect(rf("http://hub/x", { signal: ac.signal })).rejects.toThrow("Aborted");
    expect(rf.stats.retries).toBe(0);
  });

  test("backoff doubles up to the cap", () => {
    expect([1, 2, 3, 4, 10].map((a) => backoffDelay(a, 500, 5000))).toEqual([500, 1000, 2000, 4000, 5000]);
  });
});

// Test helper: one request to a member's KV API through `app.request()`
// (no socket), with the body parsed as JSON when it is JSON.

/** Anything with the KV API app of a member. */
export interface HasKvApi {
  readonly api: {
    readonly app: {
      request(path: string, init?: RequestInit): Response | Promise<Response>;
    };
  };
}

/** The answer of {@linkcode call}. */
export interface CallResult {
  status: number;
  json: Record<string, unknown>;
  headers: Headers;
}

/** Sends `method path` to `member`'s API and reads the answer. */
export async function call(
  member: HasKvApi,
  method: string,
  path: string,
  body?: BodyInit,
  headers?: HeadersInit,
): Promise<CallResult> {
  const response = await member.api.app.request(path, {
    method,
    body,
    headers,
  });
  const text = await response.text();
  let json: Record<string, unknown> = {};
  try {
    json = JSON.parse(text);
  } catch {
    json = { text };
  }
  return { status: response.status, json, headers: response.headers };
}

// Short builders for operation inputs, and `done`: a call that overlaps
// nothing. Shared by the checker's tests.
import type {
  ClientId,
  HistoryRecorder,
  OperationInput,
  OutputArgs,
  Value,
} from "../../testing/history.ts";

export const get = (key: string) => ({ kind: "get", key }) as const;
export const put = (key: string, value: Value) =>
  ({ kind: "put", key, value }) as const;
export const del = (key: string) => ({ kind: "delete", key }) as const;
export const append = (key: string, value: string) =>
  ({ kind: "append", key, value }) as const;
export const cas = (key: string, expect: Value, value: Value) =>
  ({ kind: "cas", key, expect, value }) as const;
export const read = (key: string) => ({ kind: "read", key }) as const;
export const write = (key: string, value: Value) =>
  ({ kind: "write", key, value }) as const;

export function done<I extends OperationInput>(
  recorder: HistoryRecorder,
  client: ClientId,
  input: I,
  ...output: OutputArgs<I["kind"]>
): void {
  recorder.ok<I["kind"]>(recorder.invoke(client, input), ...output);
}

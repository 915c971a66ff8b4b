/** A JSON-RPC error raised by a handler path; becomes the `error` member of the response. */
export class RpcError extends Error {
  readonly rpcCode: number;
  readonly data: unknown;
  constructor(rpcCode: number, message: string, data?: unknown) {
    super(message);
    this.rpcCode = rpcCode;
    this.data = data;
  }
}

export function isRpcError(e: unknown): e is RpcError {
  return typeof e === 'object' && e !== null && typeof (e as { rpcCode?: unknown }).rpcCode === 'number';
}

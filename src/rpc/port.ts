import type { SenderLike } from './sender';

/** The part of `runtime.Port` the RPC layer uses; lets unit tests pass an in-memory pair. */
export interface PortLike {
  readonly name: string;
  readonly sender?: SenderLike;
  postMessage(message: unknown): void;
  disconnect(): void;
  onMessage: { addListener(listener: (message: unknown) => void): void };
  onDisconnect: { addListener(listener: () => void): void };
}

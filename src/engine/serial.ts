/**
 * Runs tasks one at a time, in order. Every use case that reads and writes a group's state goes
 * through one queue per device: two interleaved read-modify-writes of an MLS state would lose
 * one of them and could roll a sending ratchet back (re-using a key and nonce).
 */
export interface SerialQueue {
  run<T>(task: () => Promise<T>): Promise<T>;
}

export function createSerialQueue(): SerialQueue {
  let tail: Promise<unknown> = Promise.resolve();
  return {
    run(task) {
      const result = tail.then(task, task);
      tail = result.then(
        () => undefined,
        () => undefined,
      );
      return result;
    },
  };
}

import { useCallback, useEffect, useState } from 'preact/hooks';
import { isAtmError } from '../errors';

export type Loadable<T> =
  | { state: 'loading' }
  | { state: 'ready'; value: T }
  | { state: 'error'; code: string; message: string };

/** Runs an async call on mount (and on `reload`), exposing loading / ready / typed error. */
export function useLoadable<T>(load: () => Promise<T>, deps: unknown[]) {
  const [value, setValue] = useState<Loadable<T>>({ state: 'loading' });
  const reload = useCallback(() => {
    setValue({ state: 'loading' });
    load().then(
      (v) => setValue({ state: 'ready', value: v }),
      (error: unknown) =>
        setValue({
          state: 'error',
          code: isAtmError(error) ? error.code : 'Internal',
          message: error instanceof Error ? error.message : String(error),
        }),
    );
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, deps);
  useEffect(reload, [reload]);
  return [value, reload, setValue] as const;
}

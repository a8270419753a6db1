/**
 * Something a test file starts once and uses in every test: `start` in beforeAll, `stop` in
 * afterAll, `reset` (if given) before each test. `current` is it, inside tests only;
 * `what` says so otherwise ("the test database exists").
 */
export function perTestFile<T>(
  what: string,
  lifecycle: { start: () => T | Promise<T>; stop: (it: T) => unknown; reset?: (it: T) => unknown },
): { readonly current: T } {
  let it: T | undefined;
  beforeAll(async () => {
    it = await lifecycle.start();
  });
  if (lifecycle.reset) beforeEach(() => (it === undefined ? undefined : lifecycle.reset!(it)));
  afterAll(async () => {
    if (it !== undefined) await lifecycle.stop(it);
  });
  return {
    get current(): T {
      if (it === undefined) throw new Error(`${what} only inside tests (beforeAll has not run)`);
      return it;
    },
  };
}

/**
 * Stands in for ts-mls's optional peer dependencies that suite 1 never uses (other HPKE KEMs and
 * AEADs, other signature curves, post-quantum). ts-mls loads them with `await import()` inside a
 * try block and reports a DependencyError when what it destructures is missing. Without this
 * alias, Vite replaces each unresolved import with a module that throws when evaluated, and
 * because extension bundles inline dynamic imports, the background would throw at start-up.
 */
export {};

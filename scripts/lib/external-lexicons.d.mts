export declare const EXTERNAL_LEXICON_ROOTS: readonly string[];
export declare function lexiconPath(nsid: string): string;
export declare function referencedNsids(doc: { id: string; defs: unknown }): string[];
export declare function lexiconClosure(
  roots: readonly string[],
  read: (nsid: string) => ({ id: string; defs: unknown } & Record<string, unknown>) | undefined,
): string[];
export declare const UPSTREAM_TABLE_HEADER: string;
export declare function parseUpstreamRecord(text: string): { commit: string; files: Map<string, string> };

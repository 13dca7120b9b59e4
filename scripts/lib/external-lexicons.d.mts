export declare const EXTERNAL_LEXICON_ROOTS: readonly string[];
export declare function externalLexicons(roots: readonly string[]): Promise<Array<{ id: string } & Record<string, unknown>>>;

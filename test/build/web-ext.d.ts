// web-ext ships no types; this is the one call the build tests make.
declare module 'web-ext' {
  interface LintResult {
    errors: Array<{ code: string; message: string; file?: string }>;
    warnings: Array<{ code: string; message: string; file?: string }>;
    summary: { errors: number; warnings: number; notices: number };
  }
  const webExt: {
    cmd: {
      lint(
        params: { sourceDir: string; output?: 'json' | 'text'; selfHosted?: boolean; boring?: boolean },
        options?: { shouldExitProgram?: boolean },
      ): Promise<LintResult>;
    };
  };
  export default webExt;
}

// Types for scripts/build-client.mjs (imported by the tests and, if it likes, the server).

/** client/src, the sources. */
export declare const CLIENT_SRC: string;
/** client/dist, where the built page lives and the server serves it from. */
export declare const CLIENT_DIST: string;

/** Every http(s) URL in a text. */
export declare function findUrls(text: string): string[];

/** Bundles client/src into `outdir` (client/dist by default). */
export declare function buildClient(options?: { outdir?: string; dev?: boolean }): Promise<{
  outdir: string;
  files: Map<string, Uint8Array>;
  ms: number;
}>;

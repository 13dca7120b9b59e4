/**
 * The official lexicons the extension calls, closed over their references. They are vendored
 * byte for byte from bluesky-social/atproto (`lexicons/` at one commit, recorded with a SHA-256
 * per file in lexicons/UPSTREAM.md) by scripts/import-lexicons.mjs; test/unit/protocol/
 * lexicons.test.ts fails when the copies drift from that record.
 */

/** The XRPC methods the extension calls (reads of public repos are plain fetches, see repos.ts). */
export const EXTERNAL_LEXICON_ROOTS = [
  'com.atproto.repo.putRecord',
  'com.atproto.repo.deleteRecord',
  'com.atproto.repo.uploadBlob',
  'com.atproto.server.createSession',
  'com.atproto.server.refreshSession',
  'com.atproto.server.deleteSession',
  'com.atproto.identity.resolveHandle',
  'chat.bsky.convo.getConvo',
  'chat.bsky.convo.getConvoMembers',
  'chat.bsky.convo.listConvos',
  'chat.bsky.convo.sendMessage',
];

/** Where a lexicon lives, relative to a `lexicons/` directory: `chat.bsky.convo.defs` → `chat/bsky/convo/defs.json`. */
export function lexiconPath(nsid) {
  return `${nsid.split('.').join('/')}.json`;
}

/** The NSIDs a document references (`nsid`, `nsid#def`, or `lex:`-prefixed forms), other than itself. */
export function referencedNsids(doc) {
  const refs = [];
  const walk = (node) => {
    if (Array.isArray(node)) {
      for (const n of node) walk(n);
    } else if (node && typeof node === 'object') {
      if (typeof node.ref === 'string') refs.push(node.ref);
      if (Array.isArray(node.refs)) refs.push(...node.refs);
      for (const v of Object.values(node)) walk(v);
    }
  };
  walk(doc.defs);
  const nsids = refs.map((ref) => ref.replace(/^lex:/, '').split('#')[0]).filter((nsid) => nsid && nsid !== doc.id);
  return [...new Set(nsids)];
}

/**
 * The ids of `roots` and of everything they reference, sorted. `read(nsid)` returns the parsed
 * document, or undefined when there is none (an error: the set would not be closed).
 */
export function lexiconClosure(roots, read) {
  const seen = new Set();
  const queue = [...roots];
  while (queue.length > 0) {
    const id = queue.shift();
    if (seen.has(id)) continue;
    const doc = read(id);
    if (!doc) throw new Error(`no lexicon ${id}`);
    if (doc.id !== id) throw new Error(`${lexiconPath(id)} holds ${doc.id}`);
    seen.add(id);
    queue.push(...referencedNsids(doc));
  }
  return [...seen].sort();
}

/** The first line of lexicons/UPSTREAM.md's table, and the pattern of its rows. */
export const UPSTREAM_TABLE_HEADER = '| SHA-256 of the upstream file | file (under `lexicons/`) |';
const ROW = /^\| `([0-9a-f]{64})` \| `([^`]+)` \|$/;
const COMMIT = /^Commit: `([0-9a-f]{40})`$/m;

/** Parses lexicons/UPSTREAM.md: the upstream commit and each vendored file's SHA-256. */
export function parseUpstreamRecord(text) {
  const commit = COMMIT.exec(text)?.[1];
  if (!commit) throw new Error('UPSTREAM.md names no commit');
  const files = new Map();
  for (const line of text.split('\n')) {
    const row = ROW.exec(line);
    if (row) files.set(row[2], row[1]);
  }
  return { commit, files };
}

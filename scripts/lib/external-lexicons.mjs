/**
 * The official lexicons the extension calls, as @atproto/api ships them, closed over their
 * references. @atproto/api keeps refs in resolved form (`lex:nsid#def`); written back here in
 * the form of the published lexicon files (`#def` within a document, `nsid` / `nsid#def`).
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
  'chat.bsky.convo.listConvos',
  'chat.bsky.convo.sendMessage',
];

function refsOf(node, out) {
  if (Array.isArray(node)) {
    for (const n of node) refsOf(n, out);
  } else if (node && typeof node === 'object') {
    if (typeof node.ref === 'string') out.push(node.ref);
    if (Array.isArray(node.refs)) out.push(...node.refs);
    for (const v of Object.values(node)) refsOf(v, out);
  }
}

function published(doc) {
  const norm = (ref) => {
    const bare = ref.replace(/^lex:/, '');
    return bare.startsWith(`${doc.id}#`) ? bare.slice(doc.id.length) : bare;
  };
  const fix = (node) => {
    if (Array.isArray(node)) return node.map(fix);
    if (!node || typeof node !== 'object') return node;
    return Object.fromEntries(
      Object.entries(node).map(([k, v]) => [
        k,
        k === 'ref' && typeof v === 'string' ? norm(v) : k === 'refs' && Array.isArray(v) ? v.map(norm) : fix(v),
      ]),
    );
  };
  return fix(doc);
}

/** The documents of `roots` and of everything they reference, sorted by id. */
export async function externalLexicons(roots) {
  const { schemas } = await import('@atproto/api');
  const byId = new Map(schemas.map((d) => [d.id, d]));
  const seen = new Set();
  const queue = [...roots];
  while (queue.length > 0) {
    const id = queue.shift();
    if (seen.has(id)) continue;
    const doc = byId.get(id);
    if (!doc) throw new Error(`@atproto/api has no lexicon ${id}`);
    seen.add(id);
    const refs = [];
    refsOf(doc.defs, refs);
    for (const ref of refs) {
      const nsid = ref.replace(/^lex:/, '').split('#')[0];
      if (nsid) queue.push(nsid);
    }
  }
  return [...seen].sort().map((id) => published(byId.get(id)));
}

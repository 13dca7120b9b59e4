// Shared by the stand-in and its clients; kept apart so clients need not load the server.

/** The service id Bluesky's chat DID (did:web:api.bsky.chat) publishes, and clients proxy to. */
export const CHAT_SERVICE_ID = 'bsky_chat';
/** The DID-document service type that goes with it. */
export const CHAT_SERVICE_TYPE = 'BskyChatService';
/** Not XRPC: a test-only read of what the stand-in stores, guarded by a per-run bearer token. */
export const STORED_MESSAGES_PATH = '/_standin/stored-messages';

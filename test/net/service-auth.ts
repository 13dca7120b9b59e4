import type { IdResolver } from '@atproto/identity';
import { AuthRequiredError, verifyJwt, type MethodAuthContext } from '@atproto/xrpc-server';

/** What a verified inter-service JWT tells the handler: who the PDS is acting for. */
export interface ServiceCredentials {
  credentials: { did: string };
}

const BEARER = 'Bearer ';

/**
 * Builds the auth step for one XRPC method. The PDS proxy signs a short-lived JWT with the
 * user's `#atproto` key (`iss` = user DID, `aud` = the DID in the proxy header, `lxm` = the
 * method). We check it exactly as a real service would: signature against the key in the
 * issuer's DID document (resolved from the local PLC), audience = our own DID, method = this NSID.
 * verifyJwt throws AuthRequiredError (401) for every failure.
 */
export function serviceAuth(opts: {
  serviceDid: string;
  idResolver: IdResolver;
  nsid: string;
}): (ctx: MethodAuthContext) => Promise<ServiceCredentials> {
  const getSigningKey = async (iss: string, forceRefresh: boolean): Promise<string> => {
    // `iss` may carry a service fragment (`did#svc`); the key belongs to the DID itself.
    const [did = iss] = iss.split('#');
    return opts.idResolver.did.resolveAtprotoKey(did, forceRefresh);
  };
  return async ({ req }) => {
    const header = req.headers.authorization ?? '';
    if (!header.startsWith(BEARER)) {
      throw new AuthRequiredError('Missing service auth (Bearer JWT)', 'AuthMissing');
    }
    const payload = await verifyJwt(header.slice(BEARER.length).trim(), opts.serviceDid, opts.nsid, getSigningKey);
    if (payload.iss.includes('#')) {
      // A user acts through its PDS with its bare DID; a fragment means another service is calling.
      throw new AuthRequiredError('Service issuers are not accepted here', 'BadJwtIssuer');
    }
    return { credentials: { did: payload.iss } };
  };
}

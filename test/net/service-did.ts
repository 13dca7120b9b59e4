import * as plc from '@did-plc/lib';
import { Secp256k1Keypair } from '@atproto/crypto';

/** A did:plc registered in the local PLC for a service that is not a PDS. */
export interface ServiceDid {
  did: string;
  /** The `#atproto` signing key (also the PLC rotation key: this is a throw-away test identity). */
  keypair: Secp256k1Keypair;
}

export interface ServiceEntry {
  /** Service id without the `#`, e.g. `bsky_chat`. */
  id: string;
  /** DID document service type, e.g. `BskyChatService`. */
  type: string;
  endpoint: string;
}

/**
 * Creates a did:plc whose document carries one service entry and an `#atproto` verification
 * method. The PDS resolves `atproto-proxy: <did>#<id>` by looking up the service with that id in
 * this document (`getServiceEndpoint` in @atproto/common-web; the type is not checked, we set the
 * one Bluesky's own chat DID uses anyway).
 */
export async function registerServiceDid(plcUrl: string, service: ServiceEntry): Promise<ServiceDid> {
  const keypair = await Secp256k1Keypair.create({ exportable: true });
  const op = await plc.signOperation(
    {
      type: 'plc_operation',
      verificationMethods: { atproto: keypair.did() },
      rotationKeys: [keypair.did()],
      alsoKnownAs: [],
      services: { [service.id]: { type: service.type, endpoint: service.endpoint } },
      prev: null,
    },
    // @did-plc/lib is typed against @atproto/crypto 0.1; only sign() is used, which has not changed.
    keypair as unknown as Parameters<typeof plc.signOperation>[1],
  );
  const did = await plc.didForCreateOp(op);
  await new plc.Client(plcUrl).sendOperation(did, op);
  return { did, keypair };
}

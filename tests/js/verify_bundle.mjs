// Verifies a Sigstore bundle (DSSE, signed with a public key) with sigstore-js, an
// independent Sigstore client:  node verify_bundle.mjs BUNDLE PUBLIC_KEY_PEM TRUST_CONFIG [tamper]
// The trust config's trusted root supplies the transparency logs; the bundle's log entry
// must verify against them. With `tamper`, one byte of the signed payload is changed first
// (it must then fail). Prints "verified" and exits 0, or prints the error and exits 1.
import fs from 'node:fs';
import crypto from 'node:crypto';
import { bundleFromJSON } from '@sigstore/bundle';
import { TrustedRoot } from '@sigstore/protobuf-specs';
import { Verifier, toSignedEntity, toTrustMaterial } from '@sigstore/verify';

const [bundlePath, keyPath, trustConfigPath, tamper] = process.argv.slice(2);
try {
  const json = JSON.parse(fs.readFileSync(bundlePath, 'utf8'));
  if (tamper) {
    const payload = Buffer.from(json.dsseEnvelope.payload, 'base64');
    payload[payload.length - 2] ^= 1;
    json.dsseEnvelope.payload = payload.toString('base64');
  }
  const bundle = bundleFromJSON(json);
  const root = TrustedRoot.fromJSON(JSON.parse(fs.readFileSync(trustConfigPath, 'utf8')).trustedRoot);
  const der = crypto.createPublicKey(fs.readFileSync(keyPath, 'utf8')).export({ type: 'spki', format: 'der' });
  const hint = json.verificationMaterial.publicKey.hint;
  const material = toTrustMaterial(root, { [hint]: { rawBytes: der } });
  const verifier = new Verifier(material, { tlogThreshold: 1, ctlogThreshold: 0, timestampThreshold: 1 });
  verifier.verify(toSignedEntity(bundle));
  console.log('verified');
} catch (e) {
  console.log(`not verified: ${e.code ?? ''} ${e.message}`);
  process.exit(1);
}

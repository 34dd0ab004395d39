// Signs a file with sigstore-js (@sigstore/sign), an independent Sigstore client, through the
// services a trust config's signing config names (the local test services):
//   node sign_bundle.mjs FILE PAYLOAD_TYPE TRUST_CONFIG TOKEN OUT_BUNDLE
// PAYLOAD_TYPE `message` makes a message-signature bundle of FILE; any other value is the
// DSSE payload type of a DSSE bundle. sigstore-js picks the newest Rekor API version listed
// (v2 when listed) and asks the TSA.
import fs from 'node:fs';
import { bundleToJSON } from '@sigstore/bundle';
import { SigningConfig } from '@sigstore/protobuf-specs';
import { bundleBuilderFromSigningConfig } from '@sigstore/sign';

const [payloadPath, payloadType, trustConfigPath, token, out] = process.argv.slice(2);
try {
  const tc = JSON.parse(fs.readFileSync(trustConfigPath, 'utf8'));
  const builder = bundleBuilderFromSigningConfig({
    signingConfig: SigningConfig.fromJSON(tc.signingConfig),
    identityProvider: { getToken: () => Promise.resolve(token) },
    bundleType: payloadType === 'message' ? 'messageSignature' : 'dsseEnvelope',
  });
  const artifact = { data: fs.readFileSync(payloadPath) };
  if (payloadType !== 'message') artifact.type = payloadType;
  const bundle = await builder.create(artifact);
  fs.writeFileSync(out, JSON.stringify(bundleToJSON(bundle)));
  console.log('signed');
} catch (e) {
  console.log(`not signed: ${e.code ?? ''} ${e.message} ${e.cause?.message ?? ''}`);
  process.exit(1);
}

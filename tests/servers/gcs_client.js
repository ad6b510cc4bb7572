#!/usr/bin/env node
// gcs_client.js: Google's own Node.js client (@google-cloud/storage, pinned in
// package.json) against a GCS endpoint, for the tests to check what objfs wrote
// and to write objects the way other programs do.
//
//   GCS_ENDPOINT=http://127.0.0.1:PORT GCS_KEY_FILE=sa.json node gcs_client.js CMD ...
//   read BUCKET KEY                 -> {"size", "sha256", "contentType", "metadata", "generation"}
//                                      (the download is checked by the client: crc32c/md5)
//   write BUCKET KEY TYPE META_JSON -> {"generation"}   body from stdin; resumable: false
//                                      (save() drops auth for resumable uploads on a
//                                      custom endpoint)
//   list BUCKET [PREFIX]            -> {"names": [...]}
//
// The access token comes from the key file's token_uri (the client's own JWT
// code always asks oauth2.googleapis.com): an RS256 JWT-bearer grant made here
// with node:crypto, handed to the client as an OAuth2Client credential.
'use strict';
const crypto = require('crypto');
const fs = require('fs');
const { Storage } = require('@google-cloud/storage');
const { OAuth2Client } = require('google-auth-library');

const b64url = (b) => Buffer.from(b).toString('base64').replace(/=+$/, '')
  .replace(/\+/g, '-').replace(/\//g, '_');

async function accessToken(sa) {
  const now = Math.floor(Date.now() / 1000);
  const head = b64url(JSON.stringify({ alg: 'RS256', typ: 'JWT', kid: sa.private_key_id }));
  const claims = b64url(JSON.stringify({
    iss: sa.client_email, aud: sa.token_uri, iat: now, exp: now + 3600,
    scope: 'https://www.googleapis.com/auth/devstorage.full_control' }));
  const sig = b64url(crypto.sign('sha256', Buffer.from(head + '.' + claims), sa.private_key));
  const r = await fetch(sa.token_uri, {
    method: 'POST', headers: { 'Content-Type': 'application/x-www-form-urlencoded' },
    body: new URLSearchParams({ grant_type: 'urn:ietf:params:oauth:grant-type:jwt-bearer',
      assertion: head + '.' + claims + '.' + sig }) });
  if (r.status !== 200) throw new Error('token endpoint: HTTP ' + r.status);
  return (await r.json()).access_token;
}

async function main() {
  const [cmd, bucket, key, type, meta] = process.argv.slice(2);
  const endpoint = process.env.GCS_ENDPOINT, keyFile = process.env.GCS_KEY_FILE;
  if (!cmd || !bucket || !endpoint || !keyFile) {
    console.error('usage: GCS_ENDPOINT=.. GCS_KEY_FILE=.. gcs_client.js read|write|list BUCKET [KEY ..]');
    process.exit(2);
  }
  const sa = JSON.parse(fs.readFileSync(keyFile, 'utf8'));
  const auth = new OAuth2Client();
  auth.setCredentials({ access_token: await accessToken(sa), expiry_date: Date.now() + 3000e3 });
  const storage = new Storage({ apiEndpoint: endpoint, projectId: sa.project_id,
    authClient: auth, useAuthWithCustomEndpoint: true, retryOptions: { maxRetries: 1 } });
  const b = storage.bucket(bucket);
  let out;
  if (cmd === 'read') {
    const f = b.file(key);
    const [md] = await f.getMetadata();
    const [data] = await f.download();           // validation: crc32c/md5 by default
    out = { size: data.length, sha256: crypto.createHash('sha256').update(data).digest('hex'),
      contentType: md.contentType, metadata: md.metadata || {}, generation: String(md.generation) };
  } else if (cmd === 'write') {
    const data = fs.readFileSync(0);
    const f = b.file(key);
    await f.save(data, { resumable: false, contentType: type,
      metadata: { metadata: JSON.parse(meta || '{}') } });
    const [md] = await f.getMetadata();
    out = { generation: String(md.generation) };
  } else if (cmd === 'list') {
    const [files] = await b.getFiles({ prefix: key || '' });
    out = { names: files.map((f) => f.name) };
  } else {
    throw new Error('unknown command ' + cmd);
  }
  process.stdout.write(JSON.stringify(out) + '\n');
}
main().catch((e) => { console.error(String(e && e.message || e)); process.exit(1); });

// The official Azure Blob client (@azure/storage-blob) for the objfs tests:
// reads back what a mount wrote, and writes blobs a mount must show.
//
//   AZ_ENDPOINT=http://127.0.0.1:PORT/ACCOUNT AZ_ACCOUNT=... AZ_KEY=... \
//     node azure_client.js COMMAND ARGS...
//
//   dump CONTAINER [PREFIX]            {name: {size, sha256, contentType, metadata, etag}}
//   put CONTAINER BLOB FILE [TYPE]     uploads FILE (uploadData: blocks when large)
//   get CONTAINER BLOB OUTFILE         downloads to OUTFILE, prints {size, metadata}
//
// Prints one JSON document on stdout; exits 1 with the error on stderr.
"use strict";

const crypto = require("crypto");
const fs = require("fs");
const { BlobClient, BlockBlobClient, ContainerClient, StorageSharedKeyCredential } =
  require("@azure/storage-blob");

// Each client is built from its URL (not derived from a service client,
// which would add the policy below to a pipeline twice).
function opts() {
  // this SDK asks for a service version newer than Azurite 3.37 knows
  // (it accepts up to 2026-06-06): pin one both speak, before signing
  const pinVersion = {
    name: "objfsPinVersion",
    sendRequest(req, next) {
      req.headers.set("x-ms-version", "2026-06-06");
      return next(req);
    },
  };
  return {
    retryOptions: { maxTries: 2 },
    additionalPolicies: [{ policy: pinVersion, position: "perCall" }],
  };
}

function cred() {
  const { AZ_ENDPOINT, AZ_ACCOUNT, AZ_KEY } = process.env;
  if (!AZ_ENDPOINT || !AZ_ACCOUNT || !AZ_KEY) {
    throw new Error("AZ_ENDPOINT, AZ_ACCOUNT and AZ_KEY must be set");
  }
  return new StorageSharedKeyCredential(AZ_ACCOUNT, AZ_KEY);
}

function blobUrl(container, blob) {
  return process.env.AZ_ENDPOINT + "/" + container + "/" +
    encodeURIComponent(blob).replace(/%2F/g, "/");
}

function containerClient(container) {
  return new ContainerClient(process.env.AZ_ENDPOINT + "/" + container, cred(), opts());
}

function blobClient(container, blob) {
  return new BlobClient(blobUrl(container, blob), cred(), opts());
}

async function streamToBuffer(s) {
  const chunks = [];
  for await (const c of s) chunks.push(c);
  return Buffer.concat(chunks);
}

async function dump(container, prefix) {
  const c = containerClient(container);
  const out = {};
  for await (const b of c.listBlobsFlat({ prefix: prefix || undefined, includeMetadata: true })) {
    const bc = blobClient(container, b.name);
    const dl = await bc.download();
    const data = await streamToBuffer(dl.readableStreamBody);
    out[b.name] = {
      size: data.length,
      sha256: crypto.createHash("sha256").update(data).digest("hex"),
      contentType: dl.contentType,
      metadata: dl.metadata,
      listedMetadata: b.metadata,
      etag: (dl.etag || "").replace(/"/g, ""),
      blobType: dl.blobType,
    };
  }
  return out;
}

async function put(container, blob, file, type) {
  const data = fs.readFileSync(file);
  const bbc = new BlockBlobClient(blobUrl(container, blob), cred(), opts());
  const r = await bbc.uploadData(data, {
    blobHTTPHeaders: { blobContentType: type || "application/octet-stream" },
    blockSize: 1024 * 1024,
    maxSingleShotSize: 1024 * 1024,
  });
  return { etag: (r.etag || "").replace(/"/g, "") };
}

async function get(container, blob, outfile) {
  const bc = blobClient(container, blob);
  const dl = await bc.download();
  const data = await streamToBuffer(dl.readableStreamBody);
  fs.writeFileSync(outfile, data);
  return { size: data.length, metadata: dl.metadata, contentType: dl.contentType };
}

async function main() {
  const [cmd, ...args] = process.argv.slice(2);
  let r;
  if (cmd === "dump") r = await dump(args[0], args[1]);
  else if (cmd === "put") r = await put(args[0], args[1], args[2], args[3]);
  else if (cmd === "get") r = await get(args[0], args[1], args[2]);
  else throw new Error("usage: azure_client.js dump|put|get ...");
  process.stdout.write(JSON.stringify(r) + "\n");
}

main().catch((e) => {
  process.stderr.write(String(e && e.stack ? e.stack : e) + "\n");
  process.exit(1);
});
